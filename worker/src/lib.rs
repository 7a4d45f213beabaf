//! The crawler worker as a library: the binary in `main.rs` is a thin shell around [`app::run`].

mod admin;
pub mod app;
mod backoff;
mod catchup;
pub mod check;
pub mod cli;
pub mod config;
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
pub mod telemetry;
pub mod usage;
