//! The crawler worker as a library: the binary in `main.rs` is a thin shell around its
//! commands, [`run::main`], [`check::run`] and [`local::main`], whose failures are [`Failure`].

mod admin;
mod backoff;
pub mod check;
pub mod cli;
pub mod config;
mod connect;
mod control;
mod crawl;
pub mod failure;
mod fetch;
mod identity;
mod jobs;
pub mod local;
pub mod priority;
pub mod run;
mod session;
pub mod shutdown;
mod sniff;
mod startup;
pub mod supervisor;
pub mod telemetry;
pub mod usage;

pub use failure::Failure;
