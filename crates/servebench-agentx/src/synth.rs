//! TODO(owner): see SPEC-agentx.md
