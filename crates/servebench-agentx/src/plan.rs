//! A trace becomes a session tree (SPEC §1.4, §2.2-2.3): the root stream
//! (the top-level requests in order) and one child stream per subagent
//! entry (`T::sa:<agent_id>`, agent depth 1), linked to the root by a spawn
//! anchor (the preceding parent request) and a join anchor (the first
//! parent request starting at or after the subagent's end; none: a
//! background child). Every turn knows which turns it waits for and with
//! what recorded end-to-start delay, so the scheduler only counts
//! completions.
//!
//! Choice recorded (SPEC §1.5): the flattened-agent detection is not
//! implemented; each subagent entry is one chain (`::sa:` children only),
//! top-level requests are one chain — the documented behaviour with
//! `AIPERF_DATASET_WEKA_SPLIT_FLATTENED_AGENTS=false`.
//!
//! Replay barriers (SPEC §2.4, aiperf's `replay_dependencies`): a turn
//! also waits for the latest turn of every other stream of its tree that
//! ended before it started in the recording, so interleaved streams keep
//! their recorded order. A barrier only orders (no delay): the timing
//! stays the stream's own end-to-start gap, spawn and join. Only the latest
//! such turn per stream is an edge (earlier ones are implied by stream
//! order), and only when no earlier turn of the same stream already waits
//! for it or a later one. A trace whose barriers would close a cycle with
//! its spawn/join edges (a subagent entry before its anchor's start, which
//! the corpus builder never writes) keeps spawn/join only.
//!
//! Also here: the trajectory start `t*` (a uniform fraction of the
//! recorded duration from a sha256-seeded draw) and the history/profiled
//! split at `t*`.

use crate::record::SourceKind;
use crate::trace::{Entry, Request, Trace};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Where a turn sits: stream index in the tree, turn index in the stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TurnRef {
    pub stream: u32,
    pub turn: u32,
}

/// A dependency edge: `to` may start `delay_s` after `from` completed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Edge {
    pub to: TurnRef,
    pub delay_s: f64,
}

/// One request of a stream.
#[derive(Debug, Clone, PartialEq)]
pub struct TurnPlan {
    /// Recorded start, seconds on the root clock.
    pub t: f64,
    /// Recorded end (`t + api_time`, `t` when unknown).
    pub end: f64,
    pub model: String,
    pub input_tokens: u64,
    pub output_tokens: u64,
    pub hash_ids: Arc<[u64]>,
    /// Index of the entry in the trace's `requests` list.
    pub outer_idx: u32,
    /// Index inside the subagent entry (subagent rows).
    pub inner_idx: Option<u32>,
    /// Hash ids already seen earlier in the trace (file order), see
    /// [`crate::artifacts::prior_hit_blocks`].
    pub prior_hit_blocks: Option<u64>,
    /// Turns that wait for this one (next turn, spawned child's first
    /// turn, the parent's join turn).
    pub successors: Vec<Edge>,
    /// How many turns this one waits for.
    pub dependencies: u32,
}

/// One conversation of a tree.
#[derive(Debug, Clone, PartialEq)]
pub struct StreamPlan {
    /// `T` or `T::sa:<agent_id>`.
    pub conversation_id: String,
    pub kind: SourceKind,
    /// The parent stream (children only).
    pub parent: Option<u32>,
    pub agent_depth: u32,
    /// The parent turn whose completion starts this stream.
    pub spawn_turn: Option<u32>,
    /// The parent turn that waits for this stream (`None`: background).
    pub join_turn: Option<u32>,
    /// Tool + system prefix tokens declared for the stream.
    pub prefix_tokens: u64,
    pub turns: Vec<TurnPlan>,
}

/// A trace as a tree of streams; stream 0 is the root.
#[derive(Debug, Clone, PartialEq)]
pub struct TreePlan {
    pub trace_id: String,
    pub block_size: u32,
    /// The first parent request's model (model rewriting, SPEC §2.9).
    pub main_model: String,
    pub streams: Vec<StreamPlan>,
    /// Recorded duration: the latest turn end, seconds from 0.
    pub duration_s: f64,
    /// Subagent entries dropped (no preceding parent request).
    pub dropped_subagents: u32,
}

impl TreePlan {
    pub fn turn(&self, r: TurnRef) -> Option<&TurnPlan> {
        self.streams
            .get(r.stream as usize)
            .and_then(|s| s.turns.get(r.turn as usize))
    }

    /// Number of turns over all streams.
    pub fn turn_count(&self) -> usize {
        self.streams.iter().map(|s| s.turns.len()).sum()
    }

    /// The largest recorded `t` of any turn.
    pub fn last_start(&self) -> f64 {
        self.streams
            .iter()
            .flat_map(|s| s.turns.iter().map(|t| t.t))
            .fold(0.0, f64::max)
    }

    /// Peak `in + out` over every request (`--max-context-length`).
    pub fn peak_context(&self) -> u64 {
        self.streams
            .iter()
            .flat_map(|s| s.turns.iter())
            .map(|t| t.input_tokens.saturating_add(t.output_tokens))
            .max()
            .unwrap_or(0)
    }
}

fn turn_of(r: &Request, outer: usize, inner: Option<usize>) -> TurnPlan {
    let api = r
        .api_time
        .filter(|a| a.is_finite() && *a > 0.0)
        .unwrap_or(0.0);
    TurnPlan {
        t: r.t,
        end: r.t + api,
        model: r.model.clone(),
        input_tokens: r.input_tokens,
        output_tokens: r.output_tokens,
        hash_ids: Arc::clone(&r.hash_ids),
        outer_idx: u32::try_from(outer).unwrap_or(u32::MAX),
        inner_idx: inner.map(|i| u32::try_from(i).unwrap_or(u32::MAX)),
        prior_hit_blocks: None,
        successors: Vec::new(),
        dependencies: 0,
    }
}

fn gap(after_end: f64, start: f64) -> f64 {
    let g = start - after_end;
    if g.is_finite() && g > 0.0 {
        g
    } else {
        0.0
    }
}

/// Builds the session tree of `trace`. `None` when it has no top-level
/// request (nothing to replay).
pub fn build(trace: &Trace) -> Option<TreePlan> {
    let mut root = StreamPlan {
        conversation_id: trace.id.clone(),
        kind: SourceKind::Main,
        parent: None,
        agent_depth: 0,
        spawn_turn: None,
        join_turn: None,
        prefix_tokens: trace.tool_tokens.saturating_add(trace.system_tokens),
        turns: Vec::new(),
    };
    let mut children: Vec<StreamPlan> = Vec::new();
    let mut dropped = 0u32;
    // Recorded end of each child, in `children` order.
    let mut child_ends: Vec<f64> = Vec::new();
    for (outer, entry) in trace.entries.iter().enumerate() {
        match entry {
            Entry::Request(r) => root.turns.push(turn_of(r, outer, None)),
            Entry::Subagent(sa) => {
                let Some(spawn) = root.turns.len().checked_sub(1) else {
                    dropped = dropped.saturating_add(1);
                    continue;
                };
                if sa.requests.is_empty() {
                    dropped = dropped.saturating_add(1);
                    continue;
                }
                let turns: Vec<TurnPlan> = sa
                    .requests
                    .iter()
                    .enumerate()
                    .map(|(i, r)| turn_of(r, outer, Some(i)))
                    .collect();
                children.push(StreamPlan {
                    conversation_id: format!("{}::sa:{}", trace.id, sa.agent_id),
                    kind: SourceKind::Subagent,
                    parent: Some(0),
                    agent_depth: 1,
                    spawn_turn: u32::try_from(spawn).ok(),
                    join_turn: None,
                    prefix_tokens: sa.tool_tokens.saturating_add(sa.system_tokens),
                    turns,
                });
                // The subagent's end: recorded duration, else its last
                // inner end.
                let last_end = children
                    .last()
                    .and_then(|c| c.turns.iter().map(|t| t.end).reduce(f64::max))
                    .unwrap_or(sa.t);
                let end = sa
                    .duration_ms
                    .filter(|d| d.is_finite() && *d >= 0.0)
                    .map_or(last_end, |d| sa.t + d / 1000.0);
                child_ends.push(end);
            }
        }
    }
    if root.turns.is_empty() {
        return None;
    }
    let main_model = root
        .turns
        .first()
        .map(|t| t.model.clone())
        .unwrap_or_default();
    let mut streams = vec![root];
    streams.extend(children);
    // Resolve join anchors: the first parent turn with t >= child end.
    for c in 1..streams.len() {
        let end = child_ends.get(c - 1).copied().unwrap_or(f64::INFINITY);
        let spawn = streams[c].spawn_turn.unwrap_or(0) as usize;
        let join = streams[0]
            .turns
            .iter()
            .enumerate()
            .skip(spawn.saturating_add(1))
            .find(|(_, t)| t.t >= end)
            .map(|(i, _)| i);
        streams[c].join_turn = join.and_then(|j| u32::try_from(j).ok());
    }
    // Edges: within each stream, spawn, join.
    for (s, stream) in streams.iter_mut().enumerate() {
        for k in 1..stream.turns.len() {
            let delay = gap(stream.turns[k - 1].end, stream.turns[k].t);
            let to = TurnRef {
                stream: s as u32,
                turn: k as u32,
            };
            stream.turns[k - 1]
                .successors
                .push(Edge { to, delay_s: delay });
            stream.turns[k].dependencies += 1;
        }
    }
    for c in 1..streams.len() {
        let (Some(spawn), Some(first_t)) =
            (streams[c].spawn_turn, streams[c].turns.first().map(|t| t.t))
        else {
            continue;
        };
        let spawn_end = streams[0].turns[spawn as usize].end;
        streams[0].turns[spawn as usize].successors.push(Edge {
            to: TurnRef {
                stream: c as u32,
                turn: 0,
            },
            delay_s: gap(spawn_end, first_t),
        });
        streams[c].turns[0].dependencies += 1;
        if let Some(join) = streams[c].join_turn {
            let last = streams[c].turns.len() - 1;
            let last_end = streams[c].turns[last].end;
            let join_t = streams[0].turns[join as usize].t;
            streams[c].turns[last].successors.push(Edge {
                to: TurnRef {
                    stream: 0,
                    turn: join,
                },
                delay_s: gap(last_end, join_t),
            });
            streams[0].turns[join as usize].dependencies += 1;
        }
    }
    add_barriers(&mut streams);
    let hits = crate::artifacts::prior_hit_blocks(trace);
    for t in streams.iter_mut().flat_map(|s| s.turns.iter_mut()) {
        t.prior_hit_blocks = hits.get(&(t.outer_idx, t.inner_idx)).copied();
    }
    let duration_s = streams
        .iter()
        .flat_map(|s| s.turns.iter().map(|t| t.end.max(t.t)))
        .fold(0.0, f64::max);
    Some(TreePlan {
        trace_id: trace.id.clone(),
        block_size: trace.block_size,
        main_model,
        streams,
        duration_s,
        dropped_subagents: dropped,
    })
}

/// Adds the replay-barrier edges (see the module doc), unless they would
/// make the dependency graph cyclic.
fn add_barriers(streams: &mut [StreamPlan]) {
    let mut edges: Vec<(TurnRef, Edge)> = Vec::new();
    for (s, stream) in streams.iter().enumerate() {
        for (o, other) in streams.iter().enumerate() {
            if o == s {
                continue;
            }
            // The latest turn of `other` already waited for by an earlier
            // turn of `s` (through this loop or an existing edge).
            let mut covered: Option<usize> = None;
            for (k, turn) in stream.turns.iter().enumerate() {
                // Latest turn of `other` that ended by this turn's start.
                let latest = other
                    .turns
                    .iter()
                    .rposition(|y| y.end <= turn.t && y.t < turn.t);
                let Some(y) = latest else { continue };
                if covered.is_some_and(|c| c >= y) {
                    continue;
                }
                covered = Some(y);
                let to = TurnRef {
                    stream: s as u32,
                    turn: k as u32,
                };
                let from = TurnRef {
                    stream: o as u32,
                    turn: y as u32,
                };
                let exists = other.turns[y].successors.iter().any(|e| e.to == to);
                if !exists {
                    edges.push((from, Edge { to, delay_s: 0.0 }));
                }
            }
        }
    }
    for (from, edge) in &edges {
        streams[from.stream as usize].turns[from.turn as usize]
            .successors
            .push(*edge);
        streams[edge.to.stream as usize].turns[edge.to.turn as usize].dependencies += 1;
    }
    if !acyclic(streams) {
        for (from, edge) in &edges {
            let succ = &mut streams[from.stream as usize].turns[from.turn as usize].successors;
            if let Some(i) = succ.iter().rposition(|e| e.to == edge.to) {
                succ.remove(i);
            }
            let to = &mut streams[edge.to.stream as usize].turns[edge.to.turn as usize];
            to.dependencies = to.dependencies.saturating_sub(1);
        }
    }
}

/// Kahn's algorithm over the turns: every turn can be ordered.
fn acyclic(streams: &[StreamPlan]) -> bool {
    let mut deps: Vec<Vec<u32>> = streams
        .iter()
        .map(|s| s.turns.iter().map(|t| t.dependencies).collect())
        .collect();
    let mut ready: Vec<TurnRef> = Vec::new();
    for (si, s) in deps.iter().enumerate() {
        for (ti, d) in s.iter().enumerate() {
            if *d == 0 {
                ready.push(TurnRef {
                    stream: si as u32,
                    turn: ti as u32,
                });
            }
        }
    }
    let total: usize = deps.iter().map(Vec::len).sum();
    let mut seen = 0usize;
    while let Some(r) = ready.pop() {
        seen += 1;
        for e in &streams[r.stream as usize].turns[r.turn as usize].successors {
            let d = &mut deps[e.to.stream as usize][e.to.turn as usize];
            *d = d.saturating_sub(1);
            if *d == 0 {
                ready.push(e.to);
            }
        }
    }
    seen == total
}

/// A uniform draw in `[0, 1)` from `sha256(key)` (first 8 bytes,
/// big-endian, top 53 bits).
pub fn unit_draw(key: &str) -> f64 {
    let digest = Sha256::digest(key.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) >> 11) as f64 / (1u64 << 53) as f64
}

/// The trajectory start `t*` of `tree` for run seed `seed`: a uniform
/// fraction in `[min_ratio, max_ratio]` of the recorded duration, keyed by
/// `"{seed}:{trace_id}"` (`"{seed}:{trace_id}:{lane}"` for a wrap lane),
/// clamped to the last recorded start so that at least one turn is
/// profiled.
pub fn trajectory_start(
    tree: &TreePlan,
    seed: u64,
    wrap_lane: Option<u32>,
    min_ratio: f64,
    max_ratio: f64,
) -> f64 {
    let key = match wrap_lane {
        None => format!("{seed}:{}", tree.trace_id),
        Some(lane) => format!("{seed}:{}:{lane}", tree.trace_id),
    };
    let fraction = min_ratio + (max_ratio - min_ratio) * unit_draw(&key);
    let t = fraction * tree.duration_s;
    if t.is_finite() {
        t.clamp(0.0, tree.last_start())
    } else {
        0.0
    }
}

/// `tree` split at `t*`: which turns are history (recorded start before
/// `t*`).
#[derive(Debug, Clone, PartialEq)]
pub struct Split {
    pub t_star: f64,
    /// Per stream: how many leading turns are history.
    pub history: Vec<u32>,
}

impl Split {
    /// Splits at `t_star`; `None` when no turn is left to profile.
    pub fn at(tree: &TreePlan, t_star: f64) -> Option<Split> {
        let history: Vec<u32> = tree
            .streams
            .iter()
            .map(|s| s.turns.iter().take_while(|t| t.t < t_star).count() as u32)
            .collect();
        let profiled = tree
            .streams
            .iter()
            .zip(&history)
            .any(|(s, &h)| (h as usize) < s.turns.len());
        profiled.then_some(Split { t_star, history })
    }

    /// No history: a play from turn 0 (recycles).
    pub fn from_start(tree: &TreePlan) -> Split {
        Split {
            t_star: 0.0,
            history: vec![0; tree.streams.len()],
        }
    }

    pub fn is_history(&self, r: TurnRef) -> bool {
        self.history
            .get(r.stream as usize)
            .is_some_and(|&h| r.turn < h)
    }

    /// Streams alive at `t*` (history and profiled turns both): the last
    /// history turn of each is a warm-up primer.
    pub fn primers(&self, tree: &TreePlan) -> Vec<TurnRef> {
        tree.streams
            .iter()
            .zip(&self.history)
            .enumerate()
            .filter(|(_, (s, &h))| h > 0 && (h as usize) < s.turns.len())
            .map(|(i, (_, &h))| TurnRef {
                stream: i as u32,
                turn: h - 1,
            })
            .collect()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::trace::Subagent;

    pub(crate) fn req(t: f64, api: f64, hash: &[u64]) -> Request {
        Request {
            t,
            streaming: true,
            model: "m".into(),
            input_tokens: 64 * hash.len() as u64,
            output_tokens: 10,
            hash_ids: hash.into(),
            api_time: Some(api),
            think_time: None,
            ttft: None,
        }
    }

    fn sub(id: &str, t: f64, dur_ms: f64, reqs: Vec<Request>) -> Entry {
        Entry::Subagent(Subagent {
            t,
            agent_id: id.into(),
            subagent_type: "Explore".into(),
            duration_ms: Some(dur_ms),
            status: "completed".into(),
            models: vec!["m".into()],
            tool_tokens: 0,
            system_tokens: 0,
            requests: reqs,
        })
    }

    pub(crate) fn sample() -> Trace {
        Trace {
            id: "T".into(),
            models: vec!["m".into()],
            block_size: 64,
            tool_tokens: 64,
            system_tokens: 0,
            entries: vec![
                // A subagent before any parent request: dropped.
                sub("early", 0.0, 100.0, vec![req(0.0, 0.1, &[9])]),
                Entry::Request(req(0.0, 1.0, &[0, 1])),
                Entry::Request(req(2.0, 1.0, &[0, 1, 2])),
                // Spawned after turn 1 (ends 3.0), runs 3.5..6.5: joins turn 3.
                sub(
                    "a",
                    3.5,
                    3000.0,
                    vec![req(3.5, 1.0, &[0, 5]), req(5.0, 1.5, &[0, 5, 6])],
                ),
                Entry::Request(req(4.0, 1.0, &[0, 1, 2, 3])),
                Entry::Request(req(7.0, 1.0, &[0, 1, 2, 3, 4])),
                // Outlives the root: background.
                sub("bg", 8.5, 5000.0, vec![req(8.5, 5.0, &[0, 7])]),
            ],
        }
    }

    #[test]
    fn tree_anchors_and_gaps() {
        let tree = build(&sample()).unwrap();
        assert_eq!(tree.dropped_subagents, 1);
        assert_eq!(tree.streams.len(), 3);
        let a = &tree.streams[1];
        assert_eq!(a.conversation_id, "T::sa:a");
        assert_eq!((a.spawn_turn, a.join_turn), (Some(1), Some(3)));
        assert_eq!(a.agent_depth, 1);
        let bg = &tree.streams[2];
        assert_eq!((bg.spawn_turn, bg.join_turn), (Some(3), None));
        // End-to-start gaps: turn 1 starts 1.0 after turn 0 ended.
        let root = &tree.streams[0];
        assert_eq!(root.turns[0].successors[0].delay_s, 1.0);
        // Turn 2 (t 4.0) after turn 1 (end 3.0): 1.0; no negative gaps.
        assert_eq!(root.turns[1].successors[0].delay_s, 1.0);
        // Spawn edge: child starts 0.5 after turn 1's end.
        let spawn = root.turns[1]
            .successors
            .iter()
            .find(|e| e.to.stream == 1)
            .unwrap();
        assert_eq!(spawn.delay_s, 0.5);
        // Join: turn 3 waits for turn 2 and the child's last turn.
        assert_eq!(root.turns[3].dependencies, 2);
        let join = a.turns[1].successors[0];
        assert_eq!(join.to, TurnRef { stream: 0, turn: 3 });
        assert_eq!(join.delay_s, 0.5);
        assert_eq!(a.turns[1].inner_idx, Some(1));
        // Barrier: the child's turn 1 (t 5.0) waits for root turn 2,
        // which ended at 5.0 in the recording.
        let barrier = root.turns[2]
            .successors
            .iter()
            .find(|e| e.to == TurnRef { stream: 1, turn: 1 })
            .unwrap();
        assert_eq!(barrier.delay_s, 0.0);
        assert_eq!(a.turns[1].dependencies, 2);
        // The background child (t 8.5) waits for its spawn (root turn 3)
        // and, as a barrier, for the other child's last turn (ended 6.5).
        assert_eq!(tree.streams[2].turns[0].dependencies, 2);
        assert_eq!(a.turns[1].outer_idx, 3);
        assert_eq!(tree.duration_s, 13.5);
    }

    #[test]
    fn barriers_never_close_a_cycle() {
        let mut trace = sample();
        // The background subagent's entry (t 8.5) follows a parent request
        // that now starts later (t 67): its spawn edge points back in time.
        if let Entry::Request(r) = &mut trace.entries[5] {
            r.t = 67.0;
        }
        let tree = build(&trace).unwrap();
        assert!(acyclic(&tree.streams));
        // Spawn only: the barrier bg -> root turn 3 was dropped.
        assert_eq!(tree.streams[0].turns[3].dependencies, 2);
        assert!(acyclic(&build(&sample()).unwrap().streams));
    }

    #[test]
    fn split_and_t_star() {
        let tree = build(&sample()).unwrap();
        let s = Split::at(&tree, 5.0).unwrap();
        assert_eq!(s.history, [3, 1, 0]);
        // Root and the live subagent are primed with their last turn
        // before t*.
        assert_eq!(
            s.primers(&tree),
            [
                TurnRef { stream: 0, turn: 2 },
                TurnRef { stream: 1, turn: 0 }
            ]
        );
        assert!(Split::at(&tree, 100.0).is_none());
        let t1 = trajectory_start(&tree, 42, None, 0.25, 0.75);
        assert_eq!(t1, trajectory_start(&tree, 42, None, 0.25, 0.75));
        assert!((0.25 * 13.5..=0.75 * 13.5).contains(&t1));
        assert_ne!(t1, trajectory_start(&tree, 42, Some(3), 0.25, 0.75));
        assert_ne!(t1, trajectory_start(&tree, 43, None, 0.25, 0.75));
        // Clamped so that a turn is left.
        assert_eq!(trajectory_start(&tree, 1, None, 1.0, 1.0), 8.5);
        assert!(Split::at(&tree, 8.5).is_some());
    }
}
