//! The enrollment service (DESIGN decision 8): a one-time token and a public key with a proof of
//! possession become a client certificate. Every refusal is a gRPC status plus a `security` log line
//! with the peer address; details stay in the log, never in the status.

use std::sync::Arc;

use sha2::{Digest, Sha256};
use tonic::{Request, Response, Status};
use vigie_proto::envelope::{verify_proof, ENROLL_CONTEXT};
use vigie_proto::v1::enrollment_server::Enrollment;
use vigie_proto::v1::{CaChainRequest, CaChainResponse, EnrollRequest, EnrollResponse};

use super::{peer, Ctx};
use crate::store::{KeyEvent, RedeemOutcome, Redemption};

/// Prefix of enrollment tokens, so that secret scanners recognise them.
pub const TOKEN_PREFIX: &str = "vigie_enr_";
const MAX_TOKEN_LEN: usize = 128;
const MAX_HOSTNAME_LEN: usize = 255;

/// SHA-256 of a token: the only form in which tokens are stored. Lookup is by this digest, so the
/// comparison never touches the secret itself byte by byte.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

#[derive(Debug, Clone)]
pub struct EnrollmentService {
    pub ctx: Arc<Ctx>,
}

fn refuse(addr: &str, reason: &str) -> Status {
    tracing::warn!(target: "security", peer = %addr, reason, "Enrollment refused.");
    Status::permission_denied("enrollment refused")
}

#[tonic::async_trait]
impl Enrollment for EnrollmentService {
    async fn enroll(
        &self,
        request: Request<EnrollRequest>,
    ) -> Result<Response<EnrollResponse>, Status> {
        let ctx = &self.ctx;
        let addr = peer(&request)
            .map(|p| p.addr.ip().to_string())
            .unwrap_or_default();
        let now = ctx.clock.now_ms();
        if !ctx.enroll_per_address.allow(&addr, now) {
            tracing::warn!(target: "security", peer = %addr, "Enrollment rate limit reached for this address.");
            return Err(Status::resource_exhausted("too many enrollment attempts"));
        }
        let req = request.into_inner();
        if req.token.len() > MAX_TOKEN_LEN || !req.token.starts_with(TOKEN_PREFIX) {
            return Err(refuse(&addr, "malformed token"));
        }
        if req.hostname.len() > MAX_HOSTNAME_LEN || req.agent_version.len() > 64 {
            return Err(refuse(&addr, "oversized hostname or version"));
        }
        let Ok(public_key) = <[u8; 32]>::try_from(req.public_key.as_slice()) else {
            return Err(refuse(&addr, "public key is not 32 bytes"));
        };
        if verify_proof(
            ENROLL_CONTEXT,
            &[req.token.as_bytes(), &public_key],
            &public_key,
            &req.proof,
        )
        .is_err()
        {
            return Err(refuse(&addr, "bad proof of possession or weak key"));
        }
        let hash = token_hash(&req.token);
        // The per-organisation budget needs the token's organisation; unknown tokens count against
        // the address only.
        if let Ok(Some(org)) = ctx.token_org(&hash).await {
            if !ctx.enroll_per_org.allow(&org, now) {
                tracing::warn!(target: "security", peer = %addr, org = %org, "Enrollment rate limit reached for this organisation.");
                return Err(Status::resource_exhausted("too many enrollment attempts"));
            }
        }
        let outcome = ctx
            .store
            .redeem_token(Redemption {
                token_hash: hash,
                public_key,
                hostname: sanitize(&req.hostname),
                agent_version: sanitize(&req.agent_version),
                peer_address: addr.clone(),
                now_ms: now,
                new_host_id: uuid::Uuid::new_v4().to_string(),
            })
            .await
            .map_err(|e| ctx.internal("redeeming a token", &e))?;
        let (host, retry) = match outcome {
            RedeemOutcome::Enrolled { host, retry } => (host, retry),
            RedeemOutcome::Refused(why) => return Err(refuse(&addr, &format!("{why:?}"))),
        };
        let issued = ctx
            .ca
            .issue_agent(&host.id, &public_key, now, ctx.cert_validity())
            .map_err(|e| ctx.internal("issuing a certificate", &e))?;
        let event = KeyEvent::Enrolled {
            at_ms: now,
            public_key,
            cert_serial: issued.serial_hex.clone(),
            not_after_ms: issued.not_after_ms,
        };
        ctx.store
            .record_key_event(&host.id, event)
            .await
            .map_err(|e| ctx.internal("recording the key event", &e))?;
        ctx.audit(
            "system",
            "host.enroll",
            Some(&host.org),
            &format!(
                "host {} from {addr}{}",
                host.id,
                if retry {
                    " (retry after a lost reply)"
                } else {
                    ""
                }
            ),
        )
        .await;
        tracing::info!(target: "security", peer = %addr, host = %host.id, org = %host.org, retry, "Agent enrolled.");
        Ok(Response::new(EnrollResponse {
            host_id: host.id,
            org_id: host.org,
            certificate_der: issued.der,
            ca_certificate_der: ctx.ca.cert_der().to_vec(),
            not_after_ms: issued.not_after_ms,
            ingest_port: u32::from(ctx.ingest_port),
        }))
    }

    async fn get_ca_chain(
        &self,
        _request: Request<CaChainRequest>,
    ) -> Result<Response<CaChainResponse>, Status> {
        Ok(Response::new(CaChainResponse {
            certificates_der: vec![self.ctx.ca.cert_der().to_vec()],
        }))
    }
}

/// Host-provided text is hostile: keep printable characters only.
pub fn sanitize(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(255).collect()
}
