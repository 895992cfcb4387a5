//! Signing and shipping: the sequencer hands out (epoch, seq) — a fresh random epoch at each start —
//! and the shipper sends the outbox in order, one batch in flight, with exponential backoff and full
//! jitter, deleting a report only once acknowledged. A stale-sequence or equivocation refusal opens a
//! new epoch and re-signs what is pending (DESIGN decision 10).

use std::sync::Arc;
use std::time::Duration;

use ed25519_dalek::SigningKey;
use rand::Rng;
use tokio::sync::Mutex;
use vigie_proto::envelope::{self, HeaderFields};
use vigie_proto::limits::{MAX_BATCH_REPORTS, MAX_GRPC_MESSAGE_BYTES};
use vigie_proto::v1::ack::{Reason, Status as AckStatus};
use vigie_proto::v1::ingest_client::IngestClient;
use vigie_proto::v1::{Report, SignedReport, SubmitRequest};
use vigie_proto::Message;

use crate::spool::{Entry, Spool, SpoolError};

/// Hands out sequence numbers under one epoch.
#[derive(Debug)]
pub struct Sequencer {
    pub host_id: String,
    pub epoch: u64,
    pub next_seq: u64,
}

impl Sequencer {
    pub fn new(host_id: String) -> Self {
        Sequencer {
            host_id,
            epoch: fresh_epoch(),
            next_seq: 1,
        }
    }

    fn next(&mut self, now_ms: i64) -> HeaderFields {
        let seq = self.next_seq;
        self.next_seq += 1;
        HeaderFields {
            host_id: self.host_id.clone(),
            epoch: self.epoch,
            seq,
            created_at_ms: now_ms,
        }
    }
}

fn fresh_epoch() -> u64 {
    // Never 0, so that "no epoch" stays distinguishable.
    rand::rngs::OsRng.gen_range(1..=u64::MAX)
}

/// What the producer and the shipper share.
#[derive(Debug)]
pub struct Outbox {
    pub key: SigningKey,
    pub state: Mutex<(Sequencer, Spool)>,
}

impl Outbox {
    /// Signs a report and writes it durably to the spool before anything is sent.
    pub async fn enqueue(&self, report: Report, now_ms: i64) -> Result<(), SpoolError> {
        self.enqueue_entry(report, now_ms).await.map(|_| ())
    }

    /// Like `enqueue`, returning the spool entry (file integrity tracks what it has in the outbox).
    pub async fn enqueue_entry(
        &self,
        mut report: Report,
        now_ms: i64,
    ) -> Result<Entry, SpoolError> {
        let mut guard = self.state.lock().await;
        let (seq, spool) = &mut *guard;
        report.outbox_dropped = spool.dropped();
        let signed = envelope::seal_report(&self.key, &seq.next(now_ms), &report);
        spool.push(&signed.encode_to_vec())
    }

    /// Opens a new epoch and re-signs every pending report under it, in order.
    async fn resync(&self, now_ms: i64) -> Result<(), SpoolError> {
        let mut guard = self.state.lock().await;
        let (seq, spool) = &mut *guard;
        *seq = Sequencer::new(seq.host_id.clone());
        tracing::warn!(
            epoch = seq.epoch,
            "Collector asked for a resync; re-signing the outbox under a new epoch."
        );
        for entry in spool.list()? {
            let bytes = spool.read(&entry)?;
            let Ok(old) = SignedReport::decode(bytes.as_slice()) else {
                spool.remove(&entry)?;
                continue;
            };
            let signed = envelope::seal(&self.key, &seq.next(now_ms), old.body);
            // Write the new copy before removing the old one: a crash here duplicates, never loses.
            spool.push(&signed.encode_to_vec())?;
            spool.remove(&entry)?;
        }
        Ok(())
    }
}

/// What one delivery attempt achieved.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivery {
    pub acknowledged: usize,
    pub refused: usize,
    pub resynced: bool,
}

/// Sends up to one batch from the outbox; `Err` means the collector could not be reached.
pub async fn deliver_once(
    outbox: &Outbox,
    client: &mut IngestClient<tonic::transport::Channel>,
    now_ms: i64,
) -> Result<Delivery, tonic::Status> {
    let (entries, reports) = {
        let guard = outbox.state.lock().await;
        let spool = &guard.1;
        let mut entries: Vec<Entry> = Vec::new();
        let mut reports = Vec::new();
        let mut size = 0usize;
        for e in spool
            .list()
            .map_err(|e| tonic::Status::internal(e.to_string()))?
        {
            let Ok(bytes) = spool.read(&e) else { continue };
            if entries.len() >= MAX_BATCH_REPORTS || size + bytes.len() > MAX_GRPC_MESSAGE_BYTES / 2
            {
                break;
            }
            match SignedReport::decode(bytes.as_slice()) {
                Ok(r) => {
                    size += bytes.len();
                    reports.push(r);
                    entries.push(e);
                }
                Err(_) => {
                    tracing::error!(path = %e.path.display(), "Dropping an unreadable outbox file.");
                    let _ = spool.remove(&e);
                }
            }
        }
        (entries, reports)
    };
    if entries.is_empty() {
        return Ok(Delivery::default());
    }
    let dropped_told: Vec<u64> = reports
        .iter()
        .map(|r| {
            envelope::decode_body(&r.body)
                .map(|b| b.outbox_dropped)
                .unwrap_or(0)
        })
        .collect();
    let acks = client
        .submit(SubmitRequest { reports })
        .await?
        .into_inner()
        .acks;
    let mut d = Delivery::default();
    let mut resync = false;
    let guard = outbox.state.lock().await;
    let spool = &guard.1;
    for ((entry, ack), told) in entries.iter().zip(&acks).zip(dropped_told) {
        let status = AckStatus::try_from(ack.status).unwrap_or(AckStatus::Unspecified);
        let reason = Reason::try_from(ack.reason).unwrap_or(Reason::Unspecified);
        match (status, reason) {
            (AckStatus::Stored | AckStatus::AlreadyStored, _) => {
                spool
                    .remove(entry)
                    .map_err(|e| tonic::Status::internal(e.to_string()))?;
                if told > 0 {
                    let _ = spool.acknowledge_dropped(told);
                }
                d.acknowledged += 1;
            }
            (AckStatus::Refused, Reason::StaleSequence | Reason::Equivocation) => resync = true,
            (AckStatus::Refused, Reason::FutureDated) => {
                tracing::warn!(
                    "The collector says this host's clock is ahead; keeping the report for later."
                );
            }
            (AckStatus::Refused, _) => {
                tracing::error!(epoch = ack.epoch, seq = ack.seq, reason = ?reason, detail = %ack.detail, "Report refused by the collector; dropping it.");
                spool
                    .remove(entry)
                    .map_err(|e| tonic::Status::internal(e.to_string()))?;
                d.refused += 1;
            }
            (AckStatus::Unspecified, _) => {}
        }
    }
    drop(guard);
    if resync {
        outbox
            .resync(now_ms)
            .await
            .map_err(|e| tonic::Status::internal(e.to_string()))?;
        d.resynced = true;
    }
    Ok(d)
}

/// Exponential backoff with full jitter: a random delay in [0, min(cap, base·2^attempt)].
pub fn backoff(attempt: u32, base: Duration, cap: Duration) -> Duration {
    let ceiling = base
        .saturating_mul(2u32.saturating_pow(attempt.min(20)))
        .min(cap);
    let ms = u64::try_from(ceiling.as_millis()).unwrap_or(u64::MAX);
    Duration::from_millis(rand::rngs::OsRng.gen_range(0..=ms))
}

/// Shared handle used by `run`.
pub type SharedOutbox = Arc<Outbox>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_stays_under_its_ceiling() {
        for attempt in 0..40 {
            let d = backoff(attempt, Duration::from_secs(1), Duration::from_secs(300));
            assert!(d <= Duration::from_secs(300));
            if attempt == 0 {
                assert!(d <= Duration::from_secs(1));
            }
        }
    }

    #[tokio::test]
    async fn resync_resigns_pending_under_a_new_epoch_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let key = SigningKey::generate(&mut rand::rngs::OsRng);
        let outbox = Outbox {
            key: key.clone(),
            state: Mutex::new((
                Sequencer::new("h".into()),
                Spool::open(dir.path(), 10).unwrap(),
            )),
        };
        for i in 0..3 {
            outbox
                .enqueue(
                    Report {
                        collected_at_ms: i,
                        ..Default::default()
                    },
                    5,
                )
                .await
                .unwrap();
        }
        let old_epoch = outbox.state.lock().await.0.epoch;
        outbox.resync(6).await.unwrap();
        let guard = outbox.state.lock().await;
        let spool = &guard.1;
        let got: Vec<(u64, u64, i64)> = spool
            .list()
            .unwrap()
            .iter()
            .map(|e| {
                let r = SignedReport::decode(spool.read(e).unwrap().as_slice()).unwrap();
                let h = envelope::verify(&r, &key.verifying_key()).unwrap();
                (
                    h.epoch,
                    h.seq,
                    envelope::decode_body(&r.body).unwrap().collected_at_ms,
                )
            })
            .collect();
        assert_eq!(got.len(), 3);
        assert!(got.iter().all(|(e, _, _)| *e != old_epoch));
        assert_eq!(
            got.iter().map(|g| (g.1, g.2)).collect::<Vec<_>>(),
            vec![(1, 0), (2, 1), (3, 2)]
        );
    }
}
