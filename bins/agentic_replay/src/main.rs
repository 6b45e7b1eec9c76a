//! `agentic_replay`: replays agentic-coding traces (AgentX). TODO(owner).

fn main() {}
