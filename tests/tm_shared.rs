//! The `shared` (= `qcow2`) TM driver against a shared-storage lab: every
//! action, each scenario run for both SSH transports, asserting the state
//! left on disk (spec §13 layouts) rather than exit codes alone.

mod common;
mod tm_support;

#[path = "tm_shared/fx.rs"]
mod fx;

#[path = "tm_shared/clone.rs"]
mod clone;

#[path = "tm_shared/ln.rs"]
mod ln;

#[path = "tm_shared/snap.rs"]
mod snap;

#[path = "tm_shared/cpds.rs"]
mod cpds;

#[path = "tm_shared/migrate.rs"]
mod migrate;

#[path = "tm_shared/monitor.rs"]
mod monitor;

#[path = "tm_shared/args.rs"]
mod args;

#[path = "tm_shared/live.rs"]
mod live;

#[path = "tm_shared/lifecycle.rs"]
mod lifecycle;
