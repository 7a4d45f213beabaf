//! The crawler worker as a library: the binary in `main.rs` is a thin shell around
//! [`supervisor::run`] and the commands beside it.

mod admin;
mod backoff;
pub mod check;
pub mod cli;
pub mod config;
mod connect;
mod control;
mod crawl;
mod fetch;
mod identity;
mod jobs;
pub mod local;
pub mod priority;
mod session;
pub mod shutdown;
mod sniff;
mod startup;
pub mod supervisor;
pub mod telemetry;
pub mod usage;
