//! The scheduler's state machine, free of I/O and clocks: it is told the
//! time and which requests completed, and answers which requests to send
//! and when the next timer is due. The driver ([`super::run`]) and the
//! tests (a scripted clock) feed it the same way.
//!
//! Time is seconds since the run started. One binary heap holds every
//! pending timer (primers, turns); the global idle cap shifts them all by
//! raising one offset (keys are `due + offset at insert`), the per-tree cap
//! rebuilds the heap (rare: a tree idle for minutes).

use crate::plan::{Split, TreePlan, TurnRef};
use crate::record::Phase;
use std::cmp::{Ordering, Reverse};
use std::collections::BinaryHeap;
use std::sync::Arc;

/// What the core needs to know.
/// Idle excesses below this are float noise of an earlier jump (a timer
/// already moved to the cap lands a rounding error past it), not a jump.
const JUMP_EPSILON_S: f64 = 1e-6;

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct CoreConfig {
    pub concurrency: usize,
    pub duration_s: f64,
    pub warmup_per_lane: u32,
    pub system_idle_cap_s: f64,
    pub trace_idle_cap_s: Option<f64>,
    pub burst: bool,
    pub warmup_grace_s: f64,
}

/// Why a request is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The last history turn of a live stream, one token (warm-up).
    Primer,
    /// One of `--warmup-requests-per-lane` one-token advances.
    Advance,
    /// A profiled turn.
    Turn,
}

/// A request the driver must send now.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Dispatch {
    pub id: u64,
    pub lane: u32,
    /// The play (one tree replayed once) it belongs to.
    pub play: u64,
    pub tree: usize,
    pub turn: TurnRef,
    pub kind: Kind,
    pub phase: Phase,
    /// When the schedule wanted it sent (after idle caps).
    pub due: f64,
    /// The completion time of the same-stream predecessor and the recorded
    /// end-to-start gap after it, when that edge decided the start.
    pub predecessor: Option<(f64, f64)>,
}

/// Counters the audit reports.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct CoreStats {
    pub global_jumps: u64,
    pub global_skipped_s: f64,
    pub tree_jumps: u64,
    pub tree_skipped_s: f64,
    pub recycles: u64,
    /// Lane-seconds busy during profiling.
    pub busy_lane_s: f64,
    pub warmup_start: f64,
    pub warmup_end: Option<f64>,
    pub profiling_start: Option<f64>,
    pub profiling_end: Option<f64>,
    /// Primers sent, advances sent.
    pub primers: u64,
    pub advances: u64,
    /// Warm-up ran past its grace period.
    pub warmup_grace_exceeded: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    History,
    Waiting,
    /// Ready outside a phase that sends it: waits for profiling.
    Held,
    Queued,
    InFlight,
    Done,
}

#[derive(Debug, Clone)]
struct TurnState {
    deps_left: u32,
    ready_after: f64,
    state: State,
    predecessor: Option<(f64, f64)>,
}

/// One tree replayed once on a lane.
#[derive(Debug)]
pub(crate) struct Play {
    pub id: u64,
    pub tree: usize,
    pub lane: u32,
    /// Plays of this tree so far, this one included minus one.
    pub recycle_pass: u32,
    turns: Vec<Vec<TurnState>>,
    left: usize,
    in_flight: usize,
    /// Profiled turns resume at `t - anchor` after the profiling start.
    anchor: f64,
    idle_since: f64,
    advances_left: u32,
    primers: Vec<TurnRef>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
struct Timer {
    key: f64,
    seq: u64,
    play: u64,
    lane: u32,
    turn: TurnRef,
    primer: bool,
}

impl Eq for Timer {}
impl PartialOrd for Timer {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Timer {
    fn cmp(&self, other: &Self) -> Ordering {
        self.key
            .total_cmp(&other.key)
            .then(self.seq.cmp(&other.seq))
    }
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stage {
    Primers,
    Advances,
    Profiling { end: f64 },
    Draining,
    Done,
}

/// The scheduler state.
#[derive(Debug)]
pub(crate) struct Core {
    cfg: CoreConfig,
    trees: Vec<Arc<TreePlan>>,
    lanes: Vec<Option<Play>>,
    heap: BinaryHeap<Reverse<Timer>>,
    offset: f64,
    seq: u64,
    next_id: u64,
    next_play: u64,
    stage: Stage,
    in_flight: usize,
    warm_in_flight: usize,
    idle_since: f64,
    /// Next pool index a recycle draws.
    next_tree: usize,
    passes: Vec<u32>,
    /// id → (lane, play, turn, kind) of requests in flight.
    flying: std::collections::HashMap<u64, (u32, u64, TurnRef, Kind)>,
    busy_lanes: usize,
    busy_since: f64,
    cancelled: bool,
    /// The primers' spread (recorded seconds, before idle caps).
    ramp: f64,
    pub stats: CoreStats,
}

impl Core {
    /// `initial[lane]` = (pool index, split at t*). `trees` is the usable
    /// pool, in sampler order.
    pub(crate) fn new(
        cfg: CoreConfig,
        trees: Vec<Arc<TreePlan>>,
        initial: Vec<(usize, Split)>,
    ) -> Core {
        let lanes_n = initial.len();
        let mut core = Core {
            passes: vec![0; trees.len()],
            next_tree: lanes_n % trees.len().max(1),
            cfg,
            trees,
            lanes: Vec::with_capacity(lanes_n),
            heap: BinaryHeap::new(),
            offset: 0.0,
            seq: 0,
            next_id: 0,
            next_play: 0,
            stage: Stage::Primers,
            in_flight: 0,
            warm_in_flight: 0,
            idle_since: 0.0,
            flying: std::collections::HashMap::new(),
            busy_lanes: 0,
            busy_since: 0.0,
            cancelled: false,
            ramp: 0.0,
            stats: CoreStats::default(),
        };
        for (lane, (tree, split)) in initial.into_iter().enumerate() {
            let play = core.new_play(tree, lane as u32, &split, 0.0);
            core.lanes.push(Some(play));
        }
        // Spread: every primer is delayed so that its trajectory's t*
        // lands at the end of the ramp.
        let mut primers = Vec::new();
        for play in core.lanes.iter().flatten() {
            let tree = &core.trees[play.tree];
            for &p in &play.primers {
                let lead = tree.turn(p).map_or(0.0, |t| (play.anchor - t.t).max(0.0));
                primers.push((play.id, play.lane, p, lead));
            }
        }
        let ramp = primers.iter().map(|p| p.3).fold(0.0, f64::max);
        core.ramp = if core.cfg.burst { 0.0 } else { ramp };
        for (play, lane, turn, lead) in primers {
            let due = if core.cfg.burst { 0.0 } else { ramp - lead };
            core.push(due, play, lane, turn, true);
        }
        core
    }

    fn new_play(&mut self, tree: usize, lane: u32, split: &Split, now: f64) -> Play {
        let plan = Arc::clone(&self.trees[tree]);
        let pass = self.passes.get(tree).copied().unwrap_or(0);
        if let Some(p) = self.passes.get_mut(tree) {
            *p = p.saturating_add(1);
        }
        let id = self.next_play;
        self.next_play += 1;
        let mut turns: Vec<Vec<TurnState>> = plan
            .streams
            .iter()
            .map(|s| {
                s.turns
                    .iter()
                    .map(|t| TurnState {
                        deps_left: t.dependencies,
                        ready_after: now,
                        state: State::Waiting,
                        predecessor: None,
                    })
                    .collect()
            })
            .collect();
        let mut left = 0;
        for (si, s) in plan.streams.iter().enumerate() {
            for (ti, t) in s.turns.iter().enumerate() {
                let r = TurnRef {
                    stream: si as u32,
                    turn: ti as u32,
                };
                if split.is_history(r) {
                    turns[si][ti].state = State::History;
                    for e in &t.successors {
                        if let Some(st) = turns
                            .get_mut(e.to.stream as usize)
                            .and_then(|s| s.get_mut(e.to.turn as usize))
                        {
                            st.deps_left = st.deps_left.saturating_sub(1);
                        }
                    }
                } else {
                    left += 1;
                }
            }
        }
        Play {
            id,
            tree,
            lane,
            recycle_pass: pass,
            turns,
            left,
            in_flight: 0,
            anchor: split.t_star,
            idle_since: now,
            advances_left: self.cfg.warmup_per_lane,
            primers: split.primers(&plan),
        }
    }

    fn push(&mut self, due: f64, play: u64, lane: u32, turn: TurnRef, primer: bool) {
        self.seq += 1;
        self.heap.push(Reverse(Timer {
            key: due + self.offset,
            seq: self.seq,
            play,
            lane,
            turn,
            primer,
        }));
    }

    /// The time the next timer is due, if any.
    pub(crate) fn next_due(&self) -> Option<f64> {
        if matches!(self.stage, Stage::Draining | Stage::Done) {
            return None;
        }
        let timer = self.heap.peek().map(|Reverse(t)| t.key - self.offset);
        match self.stage {
            // The phase end is a timer too.
            Stage::Profiling { end } => Some(timer.map_or(end, |t| t.min(end))),
            _ => timer,
        }
    }

    pub(crate) fn play(&self, lane: u32) -> Option<&Play> {
        self.lanes.get(lane as usize).and_then(|p| p.as_ref())
    }

    /// The plays the lanes hold now.
    pub(crate) fn live_plays(&self) -> std::collections::HashSet<u64> {
        self.lanes.iter().flatten().map(|p| p.id).collect()
    }

    /// The warm-up ramp: seconds from the first primer to the last.
    pub(crate) fn ramp_s(&self) -> f64 {
        self.ramp
    }

    pub(crate) fn tree(&self, index: usize) -> Option<&Arc<TreePlan>> {
        self.trees.get(index)
    }

    pub(crate) fn is_done(&self) -> bool {
        self.stage == Stage::Done
    }

    pub(crate) fn in_flight(&self) -> usize {
        self.in_flight
    }

    pub(crate) fn is_profiling(&self) -> bool {
        matches!(self.stage, Stage::Profiling { .. })
    }

    /// Stops sending (an interrupt or a failure): in-flight requests may
    /// still complete.
    pub(crate) fn stop(&mut self, now: f64) {
        self.cancelled = true;
        self.end_profiling(now);
        self.stage = Stage::Draining;
        self.heap.clear();
        self.maybe_done();
    }

    fn maybe_done(&mut self) {
        if self.stage == Stage::Draining && self.in_flight == 0 {
            self.stage = Stage::Done;
        }
    }

    fn end_profiling(&mut self, now: f64) {
        if let Stage::Profiling { .. } = self.stage {
            self.stats.busy_lane_s += self.busy_lanes as f64 * (now - self.busy_since).max(0.0);
            self.busy_since = now;
            self.stats.profiling_end = Some(now);
        }
        if self.stats.warmup_end.is_none() {
            self.stats.warmup_end = Some(now);
        }
    }

    fn set_busy(&mut self, now: f64, busy: usize) {
        if let Stage::Profiling { .. } = self.stage {
            self.stats.busy_lane_s += self.busy_lanes as f64 * (now - self.busy_since).max(0.0);
        }
        self.busy_since = now;
        self.busy_lanes = busy;
    }

    /// Advances to `now`: phase changes, idle caps, and the requests due.
    pub(crate) fn poll(&mut self, now: f64) -> Vec<Dispatch> {
        let mut out = Vec::new();
        loop {
            match self.stage {
                Stage::Primers => {
                    if self.heap.is_empty() && self.warm_in_flight == 0 {
                        self.start_advances(now, &mut out);
                        continue;
                    }
                }
                Stage::Advances => {
                    if self.warm_in_flight == 0 && self.heap.is_empty() {
                        self.start_profiling(now);
                        continue;
                    }
                }
                Stage::Profiling { end } => {
                    if now >= end {
                        self.end_profiling(end);
                        self.stage = Stage::Draining;
                        self.heap.clear();
                        self.maybe_done();
                        continue;
                    }
                }
                Stage::Draining | Stage::Done => break,
            }
            if matches!(self.stage, Stage::Primers | Stage::Advances)
                && now - self.stats.warmup_start > self.cfg.warmup_grace_s
            {
                // Slow warm-ups are not aborted; profiling starts anyway.
                self.stats.warmup_grace_exceeded = true;
                self.heap.retain(|Reverse(t)| !t.primer);
                self.start_profiling(now);
                continue;
            }
            self.global_idle_cap();
            let Some(&Reverse(top)) = self.heap.peek() else {
                break;
            };
            if top.key - self.offset > now {
                break;
            }
            self.heap.pop();
            let due = top.key - self.offset;
            if let Some(d) = self.fire(top, due) {
                out.push(d);
            }
        }
        out
    }

    /// When nothing is in flight and the next timer is more than the cap
    /// away from the moment the system went idle, every timer moves
    /// earlier by the excess.
    fn global_idle_cap(&mut self) {
        if self.in_flight > 0 {
            return;
        }
        let Some(Reverse(top)) = self.heap.peek() else {
            return;
        };
        let due = top.key - self.offset;
        let excess = due - self.idle_since - self.cfg.system_idle_cap_s;
        if excess > JUMP_EPSILON_S {
            self.offset += excess;
            self.stats.global_jumps += 1;
            self.stats.global_skipped_s += excess;
        }
    }

    /// The per-tree cap: a play with nothing in flight whose next timer is
    /// more than the cap after it went idle has its timers moved earlier.
    fn tree_idle_cap(&mut self, lane: u32, now: f64) {
        let Some(cap) = self.cfg.trace_idle_cap_s else {
            return;
        };
        let Some(play) = self.lanes.get(lane as usize).and_then(|p| p.as_ref()) else {
            return;
        };
        if play.in_flight > 0 {
            return;
        }
        let id = play.id;
        let idle_since = play.idle_since.min(now);
        let next = self
            .heap
            .iter()
            .filter(|Reverse(t)| t.play == id)
            .map(|Reverse(t)| t.key - self.offset)
            .reduce(f64::min);
        let Some(next) = next else { return };
        let excess = next - idle_since - cap;
        if excess > JUMP_EPSILON_S {
            let timers = std::mem::take(&mut self.heap).into_vec();
            self.heap = timers
                .into_iter()
                .map(|Reverse(mut t)| {
                    if t.play == id {
                        t.key -= excess;
                    }
                    Reverse(t)
                })
                .collect();
            self.stats.tree_jumps += 1;
            self.stats.tree_skipped_s += excess;
        }
    }

    fn fire(&mut self, timer: Timer, due: f64) -> Option<Dispatch> {
        let phase_kind = match self.stage {
            Stage::Primers if timer.primer => (Kind::Primer, Phase::Warmup),
            Stage::Advances => (Kind::Advance, Phase::Warmup),
            Stage::Profiling { .. } if !timer.primer => (Kind::Turn, Phase::Profiling),
            _ => return None,
        };
        let play = self.lanes.get_mut(timer.lane as usize)?.as_mut()?;
        if play.id != timer.play {
            return None;
        }
        let predecessor = if timer.primer {
            None
        } else {
            let st = play
                .turns
                .get_mut(timer.turn.stream as usize)?
                .get_mut(timer.turn.turn as usize)?;
            if st.state != State::Queued {
                return None;
            }
            st.state = State::InFlight;
            st.predecessor
        };
        play.in_flight += 1;
        self.in_flight += 1;
        if phase_kind.1 == Phase::Warmup {
            self.warm_in_flight += 1;
        }
        match phase_kind.0 {
            Kind::Primer => self.stats.primers += 1,
            Kind::Advance => self.stats.advances += 1,
            Kind::Turn => {}
        }
        let id = self.next_id;
        self.next_id += 1;
        self.flying
            .insert(id, (timer.lane, timer.play, timer.turn, phase_kind.0));
        Some(Dispatch {
            id,
            lane: timer.lane,
            play: timer.play,
            tree: play.tree,
            turn: timer.turn,
            kind: phase_kind.0,
            phase: phase_kind.1,
            due,
            predecessor,
        })
    }

    fn start_advances(&mut self, now: f64, _out: &mut [Dispatch]) {
        self.stage = Stage::Advances;
        for lane in 0..self.lanes.len() {
            let ready: Vec<TurnRef> = match &self.lanes[lane] {
                Some(play) if play.advances_left > 0 => ready_turns(play),
                _ => continue,
            };
            for r in ready {
                self.make_ready(lane as u32, r, now);
            }
        }
    }

    fn start_profiling(&mut self, now: f64) {
        let end = now + self.cfg.duration_s;
        self.stage = Stage::Profiling { end };
        self.stats.warmup_end = Some(now);
        self.stats.profiling_start = Some(now);
        self.idle_since = now;
        let mut busy = 0;
        for lane in 0..self.lanes.len() {
            let Some(play) = self.lanes[lane].as_mut() else {
                continue;
            };
            busy += 1;
            play.idle_since = now;
            let anchor = play.anchor;
            let tree = Arc::clone(&self.trees[play.tree]);
            let mut queued = Vec::new();
            for (si, s) in play.turns.iter_mut().enumerate() {
                for (ti, st) in s.iter_mut().enumerate() {
                    if st.state == State::Held || (st.state == State::Waiting && st.deps_left == 0)
                    {
                        let t = tree.streams[si].turns[ti].t;
                        st.state = State::Queued;
                        st.predecessor = None;
                        queued.push((
                            now + (t - anchor).max(0.0),
                            TurnRef {
                                stream: si as u32,
                                turn: ti as u32,
                            },
                        ));
                    }
                }
            }
            let (id, lane_n) = (play.id, play.lane);
            for (due, r) in queued {
                self.push(due, id, lane_n, r, false);
            }
        }
        self.set_busy(now, busy);
        for lane in 0..self.lanes.len() {
            self.tree_idle_cap(lane as u32, now);
        }
        // A lane whose play has nothing left (all its turns were history
        // or advances) draws its next tree now.
        for lane in 0..self.lanes.len() {
            if self.lanes[lane].as_ref().is_some_and(|p| p.left == 0) {
                self.drained(lane as u32, now);
            }
        }
    }

    /// A turn whose dependencies are all met: queued now (advances),
    /// at its ready time (profiling), or held for profiling.
    fn make_ready(&mut self, lane: u32, r: TurnRef, now: f64) {
        let stage = self.stage;
        let Some(play) = self.lanes.get_mut(lane as usize).and_then(|p| p.as_mut()) else {
            return;
        };
        let Some(st) = play
            .turns
            .get_mut(r.stream as usize)
            .and_then(|s| s.get_mut(r.turn as usize))
        else {
            return;
        };
        let (due, id) = match stage {
            Stage::Advances if play.advances_left > 0 => {
                play.advances_left -= 1;
                st.state = State::Queued;
                (now, play.id)
            }
            Stage::Profiling { .. } => {
                st.state = State::Queued;
                (st.ready_after, play.id)
            }
            _ => {
                st.state = State::Held;
                return;
            }
        };
        self.push(due, id, lane, r, false);
    }

    /// A request ended at `at` (success or failure: the tree goes on).
    pub(crate) fn complete(&mut self, id: u64, at: f64) {
        let Some((lane, play_id, turn, kind)) = self.flying.remove(&id) else {
            return;
        };
        self.in_flight = self.in_flight.saturating_sub(1);
        if kind != Kind::Turn {
            self.warm_in_flight = self.warm_in_flight.saturating_sub(1);
        }
        if self.in_flight == 0 {
            self.idle_since = at;
        }
        let stage = self.stage;
        let Some(play) = self.lanes.get_mut(lane as usize).and_then(|p| p.as_mut()) else {
            self.maybe_done();
            return;
        };
        if play.id != play_id {
            self.maybe_done();
            return;
        }
        play.in_flight = play.in_flight.saturating_sub(1);
        if play.in_flight == 0 {
            play.idle_since = at;
        }
        if kind == Kind::Primer {
            self.maybe_done();
            return;
        }
        let tree = Arc::clone(&self.trees[play.tree]);
        let Some(plan) = tree.turn(turn) else {
            return;
        };
        if let Some(st) = play
            .turns
            .get_mut(turn.stream as usize)
            .and_then(|s| s.get_mut(turn.turn as usize))
        {
            st.state = State::Done;
        }
        play.left = play.left.saturating_sub(1);
        if kind == Kind::Advance {
            play.anchor = play.anchor.max(plan.end);
        }
        let mut ready = Vec::new();
        for e in &plan.successors {
            let Some(st) = play
                .turns
                .get_mut(e.to.stream as usize)
                .and_then(|s| s.get_mut(e.to.turn as usize))
            else {
                continue;
            };
            st.ready_after = st.ready_after.max(at + e.delay_s);
            if e.to.stream == turn.stream {
                st.predecessor = Some((at, e.delay_s));
            }
            st.deps_left = st.deps_left.saturating_sub(1);
            if st.deps_left == 0 && st.state == State::Waiting {
                ready.push(e.to);
            }
        }
        let left = play.left;
        for r in ready {
            self.make_ready(lane, r, at);
        }
        match stage {
            Stage::Draining | Stage::Done => self.maybe_done(),
            Stage::Profiling { .. } if left == 0 => self.drained(lane, at),
            Stage::Profiling { .. } => self.tree_idle_cap(lane, at),
            _ => {}
        }
    }

    /// A lane's tree finished: the lane draws the next tree and replays it
    /// from turn 0 (SPEC §2.4 recycle).
    fn drained(&mut self, lane: u32, now: f64) {
        let Stage::Profiling { end } = self.stage else {
            return;
        };
        if self.trees.is_empty() || now >= end || self.cancelled {
            if let Some(slot) = self.lanes.get_mut(lane as usize) {
                *slot = None;
            }
            let busy = self.lanes.iter().flatten().count();
            self.set_busy(now, busy);
            return;
        }
        let tree = self.next_tree % self.trees.len();
        self.next_tree = (self.next_tree + 1) % self.trees.len();
        let split = Split::from_start(&self.trees[tree]);
        let mut play = self.new_play(tree, lane, &split, now);
        play.advances_left = 0;
        self.stats.recycles += 1;
        let ready = ready_turns(&play);
        if let Some(slot) = self.lanes.get_mut(lane as usize) {
            *slot = Some(play);
        }
        for r in ready {
            self.make_ready(lane, r, now);
        }
    }
}

/// Turns with every dependency met that are still waiting.
fn ready_turns(play: &Play) -> Vec<TurnRef> {
    let mut out = Vec::new();
    for (si, s) in play.turns.iter().enumerate() {
        for (ti, st) in s.iter().enumerate() {
            if st.state == State::Waiting && st.deps_left == 0 {
                out.push(TurnRef {
                    stream: si as u32,
                    turn: ti as u32,
                });
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{build, tests::sample, Split};

    fn cfg(duration_s: f64) -> CoreConfig {
        CoreConfig {
            concurrency: 1,
            duration_s,
            warmup_per_lane: 0,
            system_idle_cap_s: 10.0,
            trace_idle_cap_s: None,
            burst: false,
            warmup_grace_s: 1000.0,
        }
    }

    /// A scripted clock: every request takes `service` seconds; returns
    /// (send time, dispatch) in order.
    fn simulate(core: &mut Core, service: f64, limit: f64) -> Vec<(f64, Dispatch)> {
        simulate_with(core, &|_| service, limit)
    }

    fn simulate_with(
        core: &mut Core,
        service: &dyn Fn(&Dispatch) -> f64,
        limit: f64,
    ) -> Vec<(f64, Dispatch)> {
        let mut out = Vec::new();
        let mut flying: Vec<(f64, u64)> = Vec::new();
        let mut now = 0.0;
        loop {
            for d in core.poll(now) {
                flying.push((now + service(&d), d.id));
                out.push((now, d));
            }
            if core.is_done() || now > limit {
                break;
            }
            let next_done = flying.iter().map(|f| f.0).reduce(f64::min);
            let next = match (core.next_due(), next_done) {
                (Some(a), Some(b)) => a.min(b),
                (Some(a), None) => a,
                (None, Some(b)) => b,
                (None, None) => break,
            };
            now = next.max(now);
            let (done, rest): (Vec<_>, Vec<_>) = flying.into_iter().partition(|f| f.0 <= now);
            flying = rest;
            for (at, id) in done {
                core.complete(id, at);
            }
        }
        out
    }

    fn find(out: &[(f64, Dispatch)], play: u64, stream: u32, turn: u32) -> (f64, &Dispatch) {
        out.iter()
            .find(|(_, d)| {
                d.play == play && d.turn == TurnRef { stream, turn } && d.kind == Kind::Turn
            })
            .map(|(t, d)| (*t, d))
            .unwrap()
    }

    fn one_tree(t_star: f64, c: CoreConfig) -> Core {
        let tree = Arc::new(build(&sample()).unwrap());
        let split = Split::at(&tree, t_star).unwrap();
        Core::new(c, vec![tree], vec![(0, split)])
    }

    #[test]
    fn order_think_times_and_joins() {
        let mut core = one_tree(0.0, cfg(1000.0));
        // The child is slow: 3 s per request.
        let out = simulate_with(
            &mut core,
            &|d| if d.turn.stream == 1 { 3.0 } else { 0.5 },
            100.0,
        );
        // No history: no warm-up at all.
        assert!(out.iter().all(|(_, d)| d.phase == Phase::Profiling));
        let (t0, _) = find(&out, 0, 0, 0);
        let (t1, d1) = find(&out, 0, 0, 1);
        // Turn 1: turn 0 ended at t0 + 0.5, recorded gap 1.0.
        assert!((t1 - (t0 + 1.5)).abs() < 1e-9, "{t0} {t1}");
        assert_eq!(d1.predecessor, Some((t0 + 0.5, 1.0)));
        // The child starts 0.5 after its spawn turn (turn 1) ended.
        let (c0, _) = find(&out, 0, 1, 0);
        assert!((c0 - (t1 + 0.5 + 0.5)).abs() < 1e-9);
        let (c1, _) = find(&out, 0, 1, 1);
        assert!((c1 - (c0 + 3.0 + 0.5)).abs() < 1e-9);
        // Root turn 3 joins the child: after the child's last turn ended
        // plus the recorded 0.5, though turn 2 ended long before.
        let (t2, _) = find(&out, 0, 0, 2);
        let (t3, _) = find(&out, 0, 0, 3);
        assert!(t2 + 0.5 + 2.0 < t3);
        assert!((t3 - (c1 + 3.0 + 0.5)).abs() < 1e-9, "{c1} {t3}");
        // Within each stream, sends are in turn order.
        for s in 0..3u32 {
            let turns: Vec<u32> = out
                .iter()
                .filter(|(_, d)| d.play == 0 && d.turn.stream == s)
                .map(|(_, d)| d.turn.turn)
                .collect();
            assert!(turns.windows(2).all(|w| w[0] < w[1]), "{turns:?}");
        }
        // The background child is sent though the root had finished.
        let (bg, _) = find(&out, 0, 2, 0);
        assert!(bg > t3);
    }

    #[test]
    fn recycle_from_turn_zero() {
        let mut core = one_tree(0.0, cfg(40.0));
        let out = simulate(&mut core, 0.5, 100.0);
        let plays: std::collections::BTreeSet<u64> = out.iter().map(|(_, d)| d.play).collect();
        assert!(plays.len() >= 2, "{plays:?}");
        // The second play starts from the root's turn 0 right when the
        // first drained.
        let first = out.iter().find(|(_, d)| d.play == 1).unwrap();
        assert_eq!(first.1.turn, TurnRef { stream: 0, turn: 0 });
        assert!(core.stats.recycles >= 1);
        // Nothing is sent after the phase end.
        let end = core.stats.profiling_end.unwrap();
        assert!((end - 40.0).abs() < 1e-9);
        assert!(out.iter().all(|(t, _)| *t < 40.0 + 1e-9));
        assert!(core.is_done());
    }

    #[test]
    fn global_idle_cap() {
        let mut trace = sample();
        // A 60 s pause before the root's last turn.
        if let crate::trace::Entry::Request(r) = &mut trace.entries[5] {
            r.t = 67.0;
        }
        if let crate::trace::Entry::Subagent(s) = &mut trace.entries[6] {
            s.t = 68.5;
            s.requests[0].t = 68.5;
        }
        let tree = Arc::new(build(&trace).unwrap());
        let mut c = cfg(1000.0);
        c.concurrency = 1;
        let mut core = Core::new(
            c,
            vec![tree],
            vec![(0, Split::from_start(&build(&trace).unwrap()))],
        );
        let out = simulate(&mut core, 0.5, 200.0);
        let (c1, _) = find(&out, 0, 1, 1);
        let (t3, _) = find(&out, 0, 0, 3);
        // Recorded gap of ~60 s after the last request (the child's turn
        // 1) ended: capped at 10 s of idleness.
        assert!((t3 - (c1 + 0.5 + 10.0)).abs() < 1e-6, "{c1} {t3}");
        // One jump per play of the tree (it recycles), no float-noise ones.
        let long_gaps = out
            .iter()
            .filter(|(_, d)| d.turn == TurnRef { stream: 0, turn: 3 })
            .count() as u64;
        assert!(long_gaps >= 2);
        assert_eq!(core.stats.global_jumps, long_gaps);
        assert!(core.stats.global_skipped_s > 40.0);
    }

    #[test]
    fn tree_idle_cap() {
        let mut trace = sample();
        if let crate::trace::Entry::Request(r) = &mut trace.entries[5] {
            r.t = 67.0;
        }
        let tree = Arc::new(build(&trace).unwrap());
        let mut c = cfg(1000.0);
        c.system_idle_cap_s = 1000.0;
        c.trace_idle_cap_s = Some(5.0);
        let mut core = Core::new(
            c,
            vec![Arc::clone(&tree)],
            vec![(0, Split::from_start(&tree))],
        );
        let out = simulate(&mut core, 0.5, 200.0);
        let (c1, _) = find(&out, 0, 1, 1);
        let (t3, _) = find(&out, 0, 0, 3);
        assert!((t3 - (c1 + 0.5 + 5.0)).abs() < 1e-6, "{c1} {t3}");
        assert!(core.stats.tree_jumps >= 1);
    }

    #[test]
    fn primers_and_advances() {
        let mut c = cfg(1000.0);
        c.warmup_per_lane = 1;
        let mut core = one_tree(5.0, c);
        let out = simulate(&mut core, 0.5, 100.0);
        let warm: Vec<&Dispatch> = out
            .iter()
            .map(|(_, d)| d)
            .filter(|d| d.phase == Phase::Warmup)
            .collect();
        // Primers: root turn 2 (t 4.0) and the child's turn 0 (t 3.5),
        // spread so that t* lands at the ramp end: the earlier one first.
        assert_eq!(warm[0].kind, Kind::Primer);
        assert_eq!(warm[0].turn, TurnRef { stream: 1, turn: 0 });
        assert_eq!(warm[1].turn, TurnRef { stream: 0, turn: 2 });
        assert!((warm[1].due - warm[0].due - 0.5).abs() < 1e-9);
        // Then one advance: the child's turn 1 (the only ready turn).
        assert_eq!(warm.len(), 3);
        assert_eq!(warm[2].kind, Kind::Advance);
        assert_eq!(warm[2].turn, TurnRef { stream: 1, turn: 1 });
        // Profiling resumes with root turn 3 (its join is met).
        let first = out
            .iter()
            .find(|(_, d)| d.phase == Phase::Profiling)
            .unwrap();
        assert_eq!(first.1.turn, TurnRef { stream: 0, turn: 3 });
        assert!(first.0 >= core.stats.profiling_start.unwrap());
        assert_eq!((core.stats.primers, core.stats.advances), (2, 1));
    }

    #[test]
    fn stop_drains() {
        let mut core = one_tree(0.0, cfg(1000.0));
        let d = core.poll(0.0);
        assert_eq!(d.len(), 1);
        core.stop(0.1);
        assert!(!core.is_done());
        assert!(core.poll(5.0).is_empty());
        core.complete(d[0].id, 0.2);
        assert!(core.is_done());
    }
}
