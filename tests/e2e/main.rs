//! End-to-end tests: real `worker` and `publisher` processes against the real broker.
//! Each test has its own prefix (exchanges and queues) and rules root.

mod admin;
mod cli;
mod crawl;
mod deploy;
mod docs;
mod encoding;
mod express;
mod faults;
mod fetch_policy;
mod fleet_ops;
mod hostile;
mod imports;
mod outputs;
mod poison;
mod reload;
mod replies;
mod shutdown;
mod startup;
mod trust;
