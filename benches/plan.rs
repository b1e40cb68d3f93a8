//! Scale benchmark: the planning pipeline's stages on synthetic trees made by
//! `gen_graph.py` (1,000 and 10,000 guests).
//!
//! The generator is looked up in `$PHOENIX_SHARED/bench/gen_graph.py`, then in
//! `<CARGO_MANIFEST_DIR>/../shared/bench/gen_graph.py`. When it (or `python3`) is
//! missing the benchmark prints `SKIPPED: ...` and does nothing (it fails instead when
//! `PHOENIX_REQUIRE_SHARED=1`, as the tests do).
//!
//! Groups, per size:
//!   `load`        `pipeline::load`: read and check the definitions, build the graph
//!   `graph`       `graph::build` alone, on loaded definitions
//!   `keys`        `key::assess` of every node (the script hashes read beforehand)
//!   `assess`      `pipeline::assess` of `all` on an empty state (= `phoenix plan all`
//!                 after loading: keys, records, plan)
//!   `load+assess` both, end to end
//!
//! It runs with the allocator the binary has (mimalloc), since what planning costs
//! is mostly memory.
//!
//! Run: `cargo bench --bench plan` (add `-- 10000` to run one size only).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, SamplingMode, criterion_group, criterion_main};
use phoenix::defs::Severity;
use phoenix::graph::target;
use phoenix::key::{self, ScriptHashes};
use phoenix::state::StateDir;
use phoenix::{graph, pipeline};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

const SIZES: [usize; 2] = [1_000, 10_000];

fn generator() -> Option<PathBuf> {
    let shared = std::env::var_os("PHOENIX_SHARED").map_or_else(
        || Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared"),
        PathBuf::from,
    );
    let script = shared.join("bench/gen_graph.py");
    script.is_file().then_some(script)
}

/// Generate a tree of `guests` guests under `root`; `Err` says why not.
fn generate(script: &Path, root: &Path, guests: usize) -> Result<PathBuf, String> {
    let out = root.join(format!("g{guests}"));
    let status = Command::new("python3")
        .arg(script)
        .arg(&out)
        .args(["--guests", &guests.to_string()])
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| format!("cannot run python3 {}: {e}", script.display()))?;
    if !status.success() {
        return Err(format!("{} --guests {guests}: {status}", script.display()));
    }
    Ok(out)
}

fn bench_plan(c: &mut Criterion) {
    let Some(script) = generator() else {
        assert!(
            std::env::var("PHOENIX_REQUIRE_SHARED").as_deref() != Ok("1"),
            "PHOENIX_REQUIRE_SHARED=1 but gen_graph.py was not found"
        );
        println!(
            "SKIPPED: plan benchmark: gen_graph.py not found \
             (set PHOENIX_SHARED to the directory holding bench/gen_graph.py)"
        );
        return;
    };
    let tmp = tempfile::tempdir().expect("temporary directory");
    // An empty state directory: nothing recorded, so every node is planned.
    let cache = tmp.path().join("cache");
    std::fs::create_dir_all(&cache).expect("cache directory");
    let state = StateDir::new(&cache);
    let all = vec!["all".to_string()];

    for guests in SIZES {
        let dir = match generate(&script, tmp.path(), guests) {
            Ok(d) => d,
            Err(why) => {
                println!("SKIPPED: plan benchmark ({guests} guests): {why}");
                continue;
            }
        };
        // Fail loudly (not silently fast) when the tree does not load or plan.
        let loaded = pipeline::load(&dir, Severity::Error);
        assert!(
            !loaded.diags.has_errors(),
            "generated tree {} has errors",
            dir.display()
        );
        let assessed = pipeline::assess(&loaded, &all, &state).expect("plan all");
        assert!(
            assessed.order.len() > guests,
            "plan all selected too few nodes"
        );
        drop(assessed);

        let mut group = c.benchmark_group(format!("plan/{guests}"));
        // Few, long iterations: flat sampling keeps the run short (about a minute in
        // all on 2 cores) without criterion asking for more time.
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.warm_up_time(Duration::from_secs(1));
        group.measurement_time(Duration::from_secs(if guests >= 10_000 { 6 } else { 2 }));

        group.bench_function(BenchmarkId::from_parameter("load"), |b| {
            b.iter(|| pipeline::load(black_box(&dir), Severity::Error));
        });
        group.bench_function(BenchmarkId::from_parameter("graph"), |b| {
            b.iter(|| graph::build(black_box(&loaded.defs)));
        });
        let targets = target::resolve(&loaded.defs, &loaded.graph, &all).expect("all");
        let order = loaded.graph.order(&loaded.graph.select(&targets));
        let scripts = ScriptHashes::prefetch(&loaded.defs);
        group.bench_function(BenchmarkId::from_parameter("keys"), |b| {
            b.iter(|| key::assess(black_box(&loaded.defs), &order, &scripts));
        });
        group.bench_function(BenchmarkId::from_parameter("assess"), |b| {
            b.iter(|| pipeline::assess(black_box(&loaded), &all, &state).expect("plan all"));
        });
        group.bench_function(BenchmarkId::from_parameter("load+assess"), |b| {
            b.iter(|| {
                let loaded = pipeline::load(black_box(&dir), Severity::Error);
                pipeline::assess(&loaded, &all, &state).expect("plan all")
            });
        });
        group.finish();
    }
}

criterion_group!(benches, bench_plan);
criterion_main!(benches);
