//! The JSON event stream of `build --output json`: one event a line, the summary last.

use serde_json::Value;

use super::Output;

impl Output {
    /// Every line of stdout as an event; a line that is not JSON fails the test.
    pub fn events(&self) -> Vec<Value> {
        self.stdout
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    /// The last event, the build's summary.
    pub fn summary(&self) -> Value {
        self.events()
            .pop()
            .unwrap_or_else(|| panic!("no events\nstdout:{}\nstderr:{}", self.stdout, self.stderr))
    }

    /// The first `node_finished` event of `node`.
    pub fn finished(&self, node: &str) -> Value {
        self.events()
            .into_iter()
            .find(|e| e["event"] == "node_finished" && e["node"] == node)
            .unwrap_or_else(|| panic!("{node} did not finish\n{}", self.stdout))
    }

    /// Steps that finished successfully for `node`, in order.
    pub fn steps_of(&self, node: &str) -> Vec<String> {
        self.events()
            .iter()
            .filter(|e| e["event"] == "step_finished" && e["node"] == node && e["ok"] == true)
            .map(|e| e["step"].as_str().unwrap().to_string())
            .collect()
    }
}
