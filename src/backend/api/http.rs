//! One HTTPS conversation with the Proxmox API: `Client::call` sends a request
//! with the token, reads Proxmox's JSON answer (`{"data": ...}`, or the reason
//! phrase and `errors` of a failure) and retries what is safe to retry.
//!
//! **Retries.** A request that never reached a handler is tried again, with
//! backoff: the connection failed, or `pveproxy` could not reach the node it
//! proxies to (595/596, as pve-http-server `AnyEvent.pm` `proxy_request` answers),
//! or the server was busy (502/503/504). Any other failure of a `GET` is retried
//! too (a read changes nothing). A `POST`, `PUT` or `DELETE` that reached Proxmox
//! and failed is not repeated here: it may have done its work. A lock error ("CT
//! is locked") comes back as the step's error, which the executor retries with its
//! own backoff, as it does for `pct`. A refused certificate is never retried.
//!
//! **The token** goes in the `Authorization` header only (`PVEAPIToken=ID=SECRET`,
//! pve-manager `PVE/HTTPServer.pm` `auth_handler`); [`Token`]'s `Debug` shows the
//! ID, never the secret, and the node log gets each request's method, path and
//! parameters, values of secret-looking names masked.

use std::fmt;
use std::time::Duration;

use serde_json::Value;

use crate::backend::Log;
use crate::defs::secrets::is_secret;

/// An API token: `user@realm!tokenid` and its secret.
#[derive(Clone)]
pub struct Token {
    id: String,
    secret: String,
}

impl Token {
    /// `user@realm!tokenid=secret`, as Proxmox shows a new token (one line; spaces
    /// around it ignored).
    pub fn parse(text: &str) -> Result<Token, String> {
        let text = text.trim();
        let bad = |why: &str| {
            Err(format!(
                "the API token is not `user@realm!tokenid=secret` ({why}); create one with \
                 `pveum user token add root@pam phoenix --privsep 0` and give \
                 `root@pam!phoenix=<secret>`"
            ))
        };
        let Some((id, secret)) = text.split_once('=') else {
            return bad("no `=` before the secret");
        };
        let Some((user, name)) = id.split_once('!') else {
            return bad("no `!` between the user and the token's name");
        };
        if !user.contains('@') {
            return bad("the user has no `@realm`");
        }
        if name.is_empty() || secret.is_empty() || text.contains(char::is_whitespace) {
            return bad("an empty part, or a space inside");
        }
        Ok(Token {
            id: id.to_string(),
            secret: secret.to_string(),
        })
    }

    /// The header value.
    fn header(&self) -> String {
        format!("PVEAPIToken={}={}", self.id, self.secret)
    }

    pub fn id(&self) -> &str {
        &self.id
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}=<secret>", self.id)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Get,
    Post,
    Put,
    Delete,
}

impl Method {
    pub fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Put => "PUT",
            Method::Delete => "DELETE",
        }
    }
}

/// What a request carries besides its path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Params {
    /// Name-value pairs: the query of a `GET` or `DELETE`, the form of a `POST` or
    /// `PUT` (what `pvesh` and the GUI send).
    Pairs(Vec<(String, String)>),
    /// A JSON body, for a parameter a form cannot carry (an array).
    Json(Value),
}

/// Why a call failed: the HTTP status (0 when no answer came) and Proxmox's
/// message, with its per-parameter `errors` when it gave any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure {
    pub status: u16,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.status == 0 {
            f.write_str(&self.message)
        } else {
            write!(f, "HTTP {}: {}", self.status, self.message)
        }
    }
}

/// How many times, and how long between them.
#[derive(Debug, Clone, Copy)]
pub struct Retry {
    /// Tries in all (at least 1).
    pub attempts: u32,
    /// The first pause; each next one is four times as long.
    pub first: Duration,
}

impl Default for Retry {
    fn default() -> Retry {
        Retry {
            attempts: 4,
            first: Duration::from_millis(250),
        }
    }
}

pub struct Client {
    agent: ureq::Agent,
    /// `https://host:8006/api2/json`.
    base: String,
    token: Token,
    retry: Retry,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("base", &self.base)
            .field("token", &self.token)
            .finish_non_exhaustive()
    }
}

/// Statuses that mean the request never reached a handler.
fn never_handled(status: u16) -> bool {
    matches!(status, 502 | 503 | 504 | 595 | 596)
}

impl Client {
    /// A client of the API at `url` (`https://pve1:8006`, with or without a
    /// trailing `/api2/json`).
    pub fn new(
        url: &str,
        token: Token,
        tls: std::sync::Arc<rustls::ClientConfig>,
        retry: Retry,
    ) -> Result<Client, String> {
        let url = url.trim_end_matches('/');
        let url = url.strip_suffix("/api2/json").unwrap_or(url);
        if !url.starts_with("https://") {
            return Err(format!(
                "--api {url}: the API is reached over https only (`https://pve1:8006`)"
            ));
        }
        let agent = ureq::AgentBuilder::new()
            .tls_config(tls)
            .https_only(true)
            .timeout_connect(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .max_idle_connections_per_host(16)
            .user_agent(concat!("phoenix/", env!("CARGO_PKG_VERSION")))
            .build();
        Ok(Client {
            agent,
            base: format!("{url}/api2/json"),
            token,
            retry,
        })
    }

    /// The request line as the node log shows it, secret values masked.
    pub fn shown(method: Method, path: &str, params: &Params) -> String {
        let mut line = format!("{} {path}", method.as_str());
        match params {
            Params::Pairs(pairs) => {
                for (k, v) in pairs {
                    let v = if is_secret(k) {
                        "<redacted>".to_string()
                    } else {
                        crate::backend::command::shown(v)
                    };
                    line.push_str(&format!(" {k}={v}"));
                }
            }
            Params::Json(v) => {
                line.push(' ');
                line.push_str(&crate::key::canon::redacted(v));
            }
        }
        line
    }

    /// Send one request; its `data` on success.
    pub fn call(
        &self,
        method: Method,
        path: &str,
        params: &Params,
        log: &mut Log,
    ) -> Result<Value, Failure> {
        log.raw(format!("> {}\n", Client::shown(method, path, params)).as_bytes());
        let mut pause = self.retry.first;
        let mut tries = 0;
        loop {
            tries += 1;
            let result = self.once(method, path, params);
            let failure = match result {
                Ok(data) => return Ok(data),
                Err(f) => f,
            };
            let retry = !failure.refused_certificate()
                && tries < self.retry.attempts.max(1)
                && !crate::backend::command::aborted()
                && (failure.status == 0 && failure.unsent()
                    || never_handled(failure.status)
                    || method == Method::Get);
            log.raw(
                format!("< {failure}{}\n", if retry { "; trying again" } else { "" }).as_bytes(),
            );
            if !retry {
                return Err(failure);
            }
            std::thread::sleep(pause);
            pause *= 4;
        }
    }

    fn once(&self, method: Method, path: &str, params: &Params) -> Result<Value, Failure> {
        let url = format!("{}{path}", self.base);
        let request = self
            .agent
            .request(method.as_str(), &url)
            .set("Authorization", &self.token.header());
        let sent = match (method, params) {
            (Method::Get | Method::Delete, Params::Pairs(pairs)) => request
                .query_pairs(pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())))
                .call(),
            (_, Params::Pairs(pairs)) => {
                let form: Vec<(&str, &str)> = pairs
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str()))
                    .collect();
                request.send_form(&form)
            }
            (_, Params::Json(body)) => request
                .set("Content-Type", "application/json")
                .send_string(&body.to_string()),
        };
        match sent {
            Ok(response) => {
                let text = response.into_string().map_err(|e| Failure {
                    status: 0,
                    message: format!("{} {path}: reading the answer: {e}", method.as_str()),
                })?;
                let body: Value = serde_json::from_str(&text).map_err(|e| Failure {
                    status: 0,
                    message: format!("{} {path}: the answer is not JSON: {e}", method.as_str()),
                })?;
                Ok(body.get("data").cloned().unwrap_or(Value::Null))
            }
            Err(ureq::Error::Status(status, response)) => {
                let reason = response.status_text().to_string();
                let body: Value = response
                    .into_string()
                    .ok()
                    .and_then(|t| serde_json::from_str(&t).ok())
                    .unwrap_or(Value::Null);
                let mut message = body
                    .get("message")
                    .and_then(Value::as_str)
                    .map_or(reason, |m| m.trim_end().to_string());
                if let Some(errors) = body.get("errors").and_then(Value::as_object) {
                    for (param, why) in errors {
                        let why = why.as_str().map_or_else(|| why.to_string(), str::to_string);
                        message.push_str(&format!("; {param}: {}", why.trim_end()));
                    }
                }
                Err(Failure { status, message })
            }
            Err(ureq::Error::Transport(t)) => Err(Failure {
                status: 0,
                message: transport_message(&self.base, &t),
            }),
        }
    }
}

impl Failure {
    /// The server's certificate was refused: trying again cannot help.
    fn refused_certificate(&self) -> bool {
        self.status == 0
            && (self.message.contains("certificate") || self.message.contains("fingerprint"))
    }

    /// The request never left (the connection could not be made).
    fn unsent(&self) -> bool {
        self.message.contains("cannot connect")
    }
}

fn transport_message(base: &str, t: &ureq::Transport) -> String {
    let what = match t.kind() {
        ureq::ErrorKind::ConnectionFailed | ureq::ErrorKind::Dns => "cannot connect to",
        _ => "no answer from",
    };
    let mut why = t.to_string();
    // ureq prefixes its own rendering of the URL; keep the cause.
    if let Some((_, cause)) = why.split_once(": ") {
        why = cause.to_string();
    }
    let host = base.strip_suffix("/api2/json").unwrap_or(base);
    format!("{what} {host}: {why}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_is_read_whole_and_never_shown() {
        let t = Token::parse(" root@pam!phoenix=0a1b-2c3d\n").unwrap();
        assert_eq!(t.id(), "root@pam!phoenix");
        assert_eq!(t.header(), "PVEAPIToken=root@pam!phoenix=0a1b-2c3d");
        assert_eq!(format!("{t:?}"), "root@pam!phoenix=<secret>");
        for bad in [
            "root@pam!phoenix",
            "root@pam=secret",
            "root!phoenix=secret",
            "root@pam!=secret",
            "root@pam!phoenix=",
            "root@pam!phoe nix=secret",
        ] {
            let err = Token::parse(bad).unwrap_err();
            assert!(err.contains("user@realm!tokenid=secret"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_request_line_masks_secret_parameters() {
        let line = Client::shown(
            Method::Post,
            "/nodes/pve1/lxc",
            &Params::Pairs(vec![
                ("vmid".into(), "950".into()),
                ("password".into(), "hunter2".into()),
            ]),
        );
        assert_eq!(line, "POST /nodes/pve1/lxc vmid=950 password=<redacted>");
    }

    #[test]
    fn only_https_is_spoken() {
        let tls = super::super::tls::client_config(&super::super::tls::Trust::Fingerprint([0; 32]))
            .unwrap();
        let token = Token::parse("root@pam!x=y").unwrap();
        let err = Client::new(
            "http://pve1:8006",
            token.clone(),
            tls.clone(),
            Retry::default(),
        )
        .unwrap_err();
        assert!(err.contains("https only"), "{err}");
        let c = Client::new("https://pve1:8006/api2/json/", token, tls, Retry::default()).unwrap();
        assert_eq!(c.base, "https://pve1:8006/api2/json");
    }
}
