//! Finding and printing dependency cycles.
//!
//! Strongly connected components (Tarjan) tell which nodes are caught in cycles;
//! inside each component the elementary cycles are enumerated (a bounded variant of
//! Johnson's search: each cycle is found from its smallest node only), so every cycle
//! is printed as a path, not just "there is a cycle somewhere".

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::NodeIndex;

use super::{EdgeKind, Graph, NodeId};
use crate::defs::{Definitions, Diagnostic, Diagnostics};

/// Enough to show every cycle of a real definition set while bounding pathological input.
const MAX_CYCLES: usize = 200;
const MAX_STEPS: usize = 200_000;

pub(super) fn report(defs: &Definitions, graph: &Graph) -> Diagnostics {
    let mut diags = Diagnostics::default();
    // The usual graph has no cycle, which one topological sort shows; the
    // components, a list for every node, are made only when there is one. (Not
    // `is_cyclic_directed`: it recurses, once per node of a long chain.)
    if toposort(&graph.g, None).is_ok() {
        return diags;
    }
    let mut cycles = Vec::new();
    for mut scc in tarjan_scc(&graph.g) {
        let self_loop = scc.len() == 1 && graph.g.contains_edge(scc[0], scc[0]);
        if scc.len() < 2 && !self_loop {
            continue;
        }
        scc.sort_by_key(|ix| graph.g[*ix]);
        cycles.extend(elementary_cycles(
            graph,
            &scc,
            MAX_CYCLES.saturating_sub(cycles.len()),
        ));
    }
    cycles.sort();
    for cycle in &cycles {
        let first = cycle[0];
        let second = cycle.get(1).copied().unwrap_or(first);
        let kind = graph
            .needs(first)
            .into_iter()
            .find(|(n, _)| *n == second)
            .map_or(EdgeKind::Depends, |(_, k)| k);
        let (file, path) = match first.guest_id().and_then(|id| defs.guest(id)) {
            Some(g) => {
                // The clone source's path names the field as written
                // (`clone_from_template_ctid` in the oldest files).
                let path = match (kind, &g.clone_from) {
                    (EdgeKind::Clone, Some((_, path))) => path.clone(),
                    _ => format!("{}.dependencies", g.path),
                };
                (g.file.clone(), path)
            }
            None => (defs.hypervisor_file.clone(), String::new()),
        };
        let text: Vec<String> = cycle
            .iter()
            .chain(std::iter::once(&first))
            .map(ToString::to_string)
            .collect();
        if cycle.len() == 1 {
            let what = if kind == EdgeKind::Clone {
                "is cloned from itself"
            } else {
                "depends on itself"
            };
            diags.push(
                Diagnostic::error(&file, path, format!("{first} {what}"))
                    .help("point it at another guest, or remove the entry"),
            );
            continue;
        }
        diags.push(
            Diagnostic::error(&file, path, format!("dependency cycle: {}", text.join(" → ")))
                .help("remove one of these `dependencies` or `clone_from` links; a guest cannot wait for itself"),
        );
    }
    if cycles.len() >= MAX_CYCLES {
        diags.push(
            Diagnostic::error(
                &defs.lxc_file,
                "",
                format!("more than {MAX_CYCLES} dependency cycles; only the first are listed"),
            )
            .help("fix the cycles above and validate again"),
        );
    }
    diags
}

/// Elementary cycles inside one strongly connected component, each starting at its
/// smallest node. `scc` is sorted by node ID.
fn elementary_cycles(graph: &Graph, scc: &[NodeIndex], limit: usize) -> Vec<Vec<NodeId>> {
    let rank = |ix: NodeIndex| scc.binary_search_by_key(&graph.g[ix], |i| graph.g[*i]).ok();
    let mut out = Vec::new();
    let mut steps = 0usize;
    for (start_rank, &start) in scc.iter().enumerate() {
        // Depth-first search over nodes ranked above `start`, back to `start`.
        let mut path = vec![start];
        let mut on_path = vec![false; scc.len()];
        on_path[start_rank] = true;
        let mut iters = vec![neighbours(graph, start)];
        while let Some(it) = iters.last_mut() {
            steps += 1;
            if out.len() >= limit || steps > MAX_STEPS {
                return out;
            }
            let Some(next) = it.pop() else {
                iters.pop();
                if let Some(ix) = path.pop()
                    && let Some(r) = rank(ix)
                {
                    on_path[r] = false;
                }
                continue;
            };
            if next == start {
                out.push(path.iter().map(|ix| graph.g[*ix]).collect());
                continue;
            }
            match rank(next) {
                Some(r) if r > start_rank && !on_path[r] => {
                    on_path[r] = true;
                    path.push(next);
                    iters.push(neighbours(graph, next));
                }
                _ => {}
            }
        }
    }
    out
}

fn neighbours(graph: &Graph, ix: NodeIndex) -> Vec<NodeIndex> {
    let mut v: Vec<NodeIndex> = graph.g.neighbors(ix).collect();
    v.sort_by_key(|n| std::cmp::Reverse(graph.g[*n]));
    v.dedup();
    v
}
