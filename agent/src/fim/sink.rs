//! Where file-integrity reports go: the agent's outbox, with a bound on how many of them may wait
//! there at once (past it, changes stay pending and coalesce per path, so a burst never pushes other
//! evidence out of the outbox).
//!
//! Events leave the pending set when [`Sink::send`] returns, not when the collector acknowledges
//! them, and that is the durable point: both sinks write through [`Spool::push`] (file created
//! exclusively, fsynced, renamed into place, directory fsynced) and a spooled report is deleted only
//! after the collector's acknowledgement (the outbox) or once the shipper took it into the outbox (the
//! prober's spool). A crash after `send` delivers the report after restart; a crash before it leaves
//! the event pending in the FIM store, so it is sent again: at least once (`tests/it/fim_faults.rs`,
//! the `kill -9` test, delivers a spooled event with FIM turned off). The one loss left is the
//! outbox's own bound (oldest reports dropped when the collector stays away too long), which is
//! counted and reported as `outbox_dropped`.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::Notify;
use vigie_proto::v1::Report;
use vigie_proto::Message;

use crate::ship::Outbox;
use crate::spool::Spool;

/// A destination for reports.
pub trait Sink: Send {
    /// How many more reports may be sent now.
    fn room(&mut self) -> usize;
    /// Sends one report (durably, for the outbox).
    fn send(&mut self, report: Report, now_ms: i64) -> Result<(), String>;
}

/// The agent's outbox, seen from the file-integrity thread.
pub struct OutboxSink {
    outbox: Arc<Outbox>,
    wake: Arc<Notify>,
    rt: tokio::runtime::Handle,
    in_outbox: Vec<PathBuf>,
    max: usize,
}

impl std::fmt::Debug for OutboxSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OutboxSink")
            .field("in_outbox", &self.in_outbox.len())
            .field("max", &self.max)
            .finish()
    }
}

impl OutboxSink {
    pub fn new(
        outbox: Arc<Outbox>,
        wake: Arc<Notify>,
        rt: tokio::runtime::Handle,
        max: usize,
    ) -> OutboxSink {
        OutboxSink {
            outbox,
            wake,
            rt,
            in_outbox: Vec::new(),
            max,
        }
    }
}

impl Sink for OutboxSink {
    fn room(&mut self) -> usize {
        // A spool file disappears once the collector acknowledged it (or a resync re-signed it).
        self.in_outbox.retain(|p| p.exists());
        self.max.saturating_sub(self.in_outbox.len())
    }

    fn send(&mut self, report: Report, now_ms: i64) -> Result<(), String> {
        let entry = self
            .rt
            .block_on(self.outbox.enqueue_entry(report, now_ms))
            .map_err(|e| e.to_string())?;
        self.in_outbox.push(entry.path);
        self.wake.notify_one();
        Ok(())
    }
}

/// The prober's spool (split mode): reports go unsigned to `spool/probed`, which the shipper signs
/// and moves to the outbox in order. A report counts as in the outbox until the shipper took it.
pub struct SpoolSink {
    spool: Arc<std::sync::Mutex<Spool>>,
    in_spool: Vec<PathBuf>,
    max: usize,
}

impl std::fmt::Debug for SpoolSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpoolSink")
            .field("in_spool", &self.in_spool.len())
            .field("max", &self.max)
            .finish()
    }
}

impl SpoolSink {
    pub fn new(spool: Arc<std::sync::Mutex<Spool>>, max: usize) -> SpoolSink {
        SpoolSink {
            spool,
            in_spool: Vec::new(),
            max,
        }
    }
}

impl Sink for SpoolSink {
    fn room(&mut self) -> usize {
        self.in_spool.retain(|p| p.exists());
        self.max.saturating_sub(self.in_spool.len())
    }

    fn send(&mut self, report: Report, _now_ms: i64) -> Result<(), String> {
        let entry = self
            .spool
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .push(&report.encode_to_vec())
            .map_err(|e| e.to_string())?;
        self.in_spool.push(entry.path);
        Ok(())
    }
}
