//! The end-to-end test harness: real worker and publisher binaries, a real broker, and a
//! private prefix per test so tests run in parallel and leave nothing behind.

mod bins;
mod broker;
mod check_rule;
mod fleet;
mod job;
mod push;
mod rabbitmqctl;
mod rules_dir;
mod site;
mod update;
mod worker;

pub use bins::{CliOutput, publisher, run_publisher, run_worker_until_exit, worker};
pub use broker::{AMQP_URL, TestBroker};
pub use check_rule::{check_rule, check_rule_json};
pub use fleet::{fleet, versions};
pub use job::{enqueue_until_logged, one_job, page_job, tag_and_version};
pub use push::push_and_wait;
pub use rules_dir::RulesDir;
pub use site::{Reserved, Route, TestSite, http_get};
pub use update::{sha256, shop_a_update, tagged_rule, update_body};
pub use worker::WorkerProc;
