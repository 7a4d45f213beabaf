//! End-to-end tests: real `worker` and `publisher` processes against the real broker.
//! Each test has its own prefix (exchanges and queues) and rules root.

mod cli;
mod crawl;
mod deploy;
mod encoding;
mod express;
mod faults;
mod fleet_ops;
mod hostile;
mod reload;
mod replies;
