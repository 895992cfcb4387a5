//! The ingest service: certificate identity → host (the report's host id must match the certificate's)
//! → strict Ed25519 check of the signed header → replay rules → durable store → acknowledgement.
//! Derivation and evaluation happen after the acknowledgement, off this path.

use std::sync::Arc;

use ed25519_dalek::VerifyingKey;
use tonic::{Request, Response, Status};
use vigie_proto::envelope::{self, EnvelopeError, RENEW_CONTEXT};
use vigie_proto::limits::MAX_BATCH_REPORTS;
use vigie_proto::v1::ack::{Reason, Status as AckStatus};
use vigie_proto::v1::ingest_server::Ingest;
use vigie_proto::v1::{Ack, RenewRequest, RenewResponse, SubmitRequest, SubmitResponse};
use vigie_proto::Message;

use super::{peer, Ctx};
use crate::store::{Admission, Candidate, HostRecord, KeyEvent};

#[derive(Debug, Clone)]
pub struct IngestService {
    pub ctx: Arc<Ctx>,
}

fn refused(reason: Reason, epoch: u64, seq: u64, detail: &str) -> Ack {
    Ack {
        status: AckStatus::Refused as i32,
        reason: reason as i32,
        epoch,
        seq,
        high_water_mark: 0,
        detail: detail.to_owned(),
    }
}

fn reason_of(e: &EnvelopeError) -> Reason {
    match e {
        EnvelopeError::BodyTooLarge(_) | EnvelopeError::HeaderTooLarge(_) => Reason::TooLarge,
        EnvelopeError::MalformedHeader(_) | EnvelopeError::MalformedBody(_) => Reason::Malformed,
        EnvelopeError::SignatureLength(_) | EnvelopeError::BadSignature => Reason::BadSignature,
        EnvelopeError::DigestMismatch => Reason::DigestMismatch,
    }
}

impl IngestService {
    /// Identifies the caller from its client certificate and checks revocation, on every RPC.
    async fn authenticate<T>(&self, request: &Request<T>) -> Result<(HostRecord, String), Status> {
        let ctx = &self.ctx;
        let info = peer(request).ok_or_else(|| Status::internal("no peer information"))?;
        let addr = info.addr.to_string();
        let deny = |reason: &str| {
            tracing::warn!(target: "security", peer = %addr, reason, "Ingest refused.");
            Status::unauthenticated("not authorised")
        };
        let cert = info
            .client_cert
            .as_ref()
            .ok_or_else(|| deny("no client certificate"))?;
        let host_id =
            vigie_proto::pin::host_id(cert).map_err(|_| deny("no host id in certificate"))?;
        let host = ctx
            .store
            .host(&host_id)
            .await
            .map_err(|e| ctx.internal("reading a host", &e))?
            .ok_or_else(|| deny("unknown host"))?;
        if host.revoked.is_some() {
            return Err(deny("certificate of a revoked host"));
        }
        let spki = x509_parser::parse_x509_certificate(cert)
            .map(|(_, c)| c.public_key().subject_public_key.data.to_vec())
            .map_err(|_| deny("unparsable certificate"))?;
        if spki.as_slice() != host.current_key.as_slice() {
            return Err(deny("certificate key superseded by a renewal"));
        }
        Ok((host, addr))
    }
}

#[tonic::async_trait]
impl Ingest for IngestService {
    async fn submit(
        &self,
        request: Request<SubmitRequest>,
    ) -> Result<Response<SubmitResponse>, Status> {
        let ctx = &self.ctx;
        let (host, addr) = self.authenticate(&request).await?;
        let reports = request.into_inner().reports;
        if reports.len() > MAX_BATCH_REPORTS {
            tracing::warn!(target: "security", peer = %addr, host = %host.id, n = reports.len(), "Oversized batch refused.");
            return Err(Status::invalid_argument("too many reports in one batch"));
        }
        let key = VerifyingKey::from_bytes(&host.current_key)
            .map_err(|e| ctx.internal("decoding a stored key", &e))?;
        let now = ctx.clock.now_ms();
        let mut acks: Vec<Option<Ack>> = Vec::with_capacity(reports.len());
        let mut candidates = Vec::new();
        let mut bodies = Vec::new();
        for report in &reports {
            let header = match envelope::decode_header(report) {
                Ok(h) => h,
                Err(e) => {
                    tracing::warn!(target: "security", peer = %addr, host = %host.id, error = %e, "Report refused.");
                    acks.push(Some(refused(reason_of(&e), 0, 0, "header")));
                    continue;
                }
            };
            let (epoch, seq) = (header.epoch, header.seq);
            if header.host_id != host.id {
                tracing::warn!(target: "security", peer = %addr, host = %host.id, claimed = %envelope_text(&header.host_id), "Report for another host refused.");
                acks.push(Some(refused(
                    Reason::HostMismatch,
                    epoch,
                    seq,
                    "host id differs from the certificate",
                )));
                continue;
            }
            if let Err(e) = envelope::verify(report, &key) {
                tracing::warn!(target: "security", peer = %addr, host = %host.id, epoch, seq, error = %e, "Report refused.");
                acks.push(Some(refused(reason_of(&e), epoch, seq, "signature")));
                continue;
            }
            if header.created_at_ms > now.saturating_add(ctx.settings.max_clock_skew_ms) {
                tracing::warn!(target: "security", peer = %addr, host = %host.id, epoch, seq, created_at_ms = header.created_at_ms, "Report dated in the future refused.");
                acks.push(Some(refused(
                    Reason::FutureDated,
                    epoch,
                    seq,
                    "dated in the future",
                )));
                continue;
            }
            let body = match envelope::decode_body(&report.body) {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(target: "security", peer = %addr, host = %host.id, epoch, seq, error = %e, "Report refused.");
                    acks.push(Some(refused(Reason::Malformed, epoch, seq, "body")));
                    continue;
                }
            };
            acks.push(None);
            candidates.push(Candidate {
                epoch,
                seq,
                digest: envelope::report_digest(report),
                received_at_ms: now,
                created_at_ms: header.created_at_ms,
                signed: report.encode_to_vec(),
            });
            bodies.push(body);
        }
        let admitted = ctx
            .store
            .admit(&host.id, candidates.clone())
            .await
            .map_err(|e| ctx.internal("storing reports", &e))?;
        if ctx.abort_after_store && admitted.admissions.contains(&Admission::Stored) {
            tracing::error!(
                "Failpoint ingest-after-store: aborting between store and acknowledgement."
            );
            std::process::abort();
        }
        if admitted.epoch_returned {
            ctx.security_event(
                &host.id,
                &addr,
                now,
                "cloned_identity",
                &format!("host came back to an epoch it had left (peer {addr})"),
            )
            .await;
        }
        let mut fresh = Vec::new();
        let mut results = admitted
            .admissions
            .into_iter()
            .zip(candidates.into_iter().zip(bodies));
        let mut out = Vec::with_capacity(acks.len());
        for ack in acks {
            if let Some(ack) = ack {
                out.push(ack);
                continue;
            }
            let Some((admission, (cand, body))) = results.next() else {
                return Err(
                    ctx.internal("matching admissions", &"store returned too few admissions")
                );
            };
            let (epoch, seq) = (cand.epoch, cand.seq);
            let ack = match admission {
                Admission::Stored => {
                    fresh.push((cand, body));
                    Ack {
                        status: AckStatus::Stored as i32,
                        epoch,
                        seq,
                        ..Default::default()
                    }
                }
                Admission::AlreadyStored => Ack {
                    status: AckStatus::AlreadyStored as i32,
                    epoch,
                    seq,
                    ..Default::default()
                },
                Admission::Stale { high_water_mark } => {
                    tracing::warn!(target: "security", peer = %addr, host = %host.id, epoch, seq, high_water_mark, "Stale sequence refused.");
                    Ack {
                        high_water_mark,
                        ..refused(Reason::StaleSequence, epoch, seq, "stale sequence")
                    }
                }
                Admission::Equivocation => {
                    ctx.security_event(&host.id, &addr, now, "equivocation", &format!("epoch {epoch} seq {seq} signed twice with different content (peer {addr})")).await;
                    refused(Reason::Equivocation, epoch, seq, "equivocation")
                }
            };
            out.push(ack);
        }
        // The agent's outbox overflowed and dropped its oldest reports: evidence is lost, which the
        // alerting reports (ALR-002, `alerts::engine`). The agent counts drops until a report
        // carrying the count is acknowledged, so each drop is told once.
        let dropped: u64 = fresh
            .iter()
            .map(|(_, body)| body.outbox_dropped)
            .max()
            .unwrap_or(0);
        if dropped > 0 {
            ctx.security_event(
                &host.id,
                &addr,
                now,
                crate::alerts::engine::OUTBOX_DROPPED,
                &format!("{dropped} reports dropped from the agent's full outbox"),
            )
            .await;
        }
        if !fresh.is_empty() {
            ctx.derive_after_ack(&host.id, fresh);
        }
        Ok(Response::new(SubmitResponse { acks: out }))
    }

    async fn renew(
        &self,
        request: Request<RenewRequest>,
    ) -> Result<Response<RenewResponse>, Status> {
        let ctx = &self.ctx;
        let (host, addr) = self.authenticate(&request).await?;
        let req = request.into_inner();
        let Ok(public_key) = <[u8; 32]>::try_from(req.public_key.as_slice()) else {
            tracing::warn!(target: "security", peer = %addr, host = %host.id, "Renewal refused: key is not 32 bytes.");
            return Err(Status::invalid_argument("bad public key"));
        };
        if envelope::verify_proof(
            RENEW_CONTEXT,
            &[host.id.as_bytes(), &public_key],
            &public_key,
            &req.proof,
        )
        .is_err()
        {
            tracing::warn!(target: "security", peer = %addr, host = %host.id, "Renewal refused: bad proof or weak key.");
            return Err(Status::permission_denied("renewal refused"));
        }
        let now = ctx.clock.now_ms();
        let issued = ctx
            .ca
            .issue_agent(&host.id, &public_key, now, ctx.cert_validity())
            .map_err(|e| ctx.internal("issuing a certificate", &e))?;
        ctx.store
            .record_key_event(
                &host.id,
                KeyEvent::Renewed {
                    at_ms: now,
                    public_key,
                    cert_serial: issued.serial_hex.clone(),
                    not_after_ms: issued.not_after_ms,
                },
            )
            .await
            .map_err(|e| ctx.internal("recording the renewal", &e))?;
        tracing::info!(target: "security", peer = %addr, host = %host.id, serial = %issued.serial_hex, "Certificate renewed.");
        Ok(Response::new(RenewResponse {
            certificate_der: issued.der,
            not_after_ms: issued.not_after_ms,
        }))
    }
}

/// Host-provided text in a log line: bounded and with control characters escaped.
fn envelope_text(s: &str) -> String {
    s.chars().take(64).flat_map(char::escape_default).collect()
}
