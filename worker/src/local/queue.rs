//! `worker crawl`'s job queue, in process. Every job is counted from the moment it is queued
//! (or set to be retried) until it is settled, so the crawl ends when none is left.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crawlfleet_bus::message::Job;
use tokio::sync::{Notify, mpsc};
use tokio_util::sync::CancellationToken;

pub(super) struct Queue {
    tx: mpsc::UnboundedSender<Job>,
    /// Jobs queued, running or waiting to be retried.
    pending: AtomicUsize,
    /// Woken when a job is settled or a retry is queued.
    idle: Notify,
}

impl Queue {
    pub(super) fn new() -> (Arc<Queue>, mpsc::UnboundedReceiver<Job>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let queue = Queue {
            tx,
            pending: AtomicUsize::new(0),
            idle: Notify::new(),
        };
        (Arc::new(queue), rx)
    }

    pub(super) fn push(&self, job: Job) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let _ = self.tx.send(job);
    }

    /// Queues `job` once `delay` has passed; it counts as pending meanwhile (in a timer,
    /// not a job slot).
    pub(super) fn push_after(self: &Arc<Self>, job: Job, delay: Duration) {
        self.pending.fetch_add(1, Ordering::SeqCst);
        let queue = Arc::clone(self);
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let _ = queue.tx.send(job);
            queue.idle.notify_one();
        });
    }

    /// A job taken from the queue is settled.
    pub(super) fn settled(&self) {
        self.pending.fetch_sub(1, Ordering::SeqCst);
        self.idle.notify_one();
    }

    /// The next job; `None` once no job is pending or at `stop`.
    pub(super) async fn next(
        &self,
        jobs: &mut mpsc::UnboundedReceiver<Job>,
        stop: &CancellationToken,
    ) -> Option<Job> {
        loop {
            tokio::select! {
                _ = stop.cancelled() => return None,
                _ = self.idle.notified() => {
                    if self.pending.load(Ordering::SeqCst) == 0 {
                        return None;
                    }
                }
                job = jobs.recv() => return job,
            }
        }
    }
}
