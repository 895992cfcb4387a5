//! The admin requests of alerts (`alerts list`, `ack`, `test`, `sinks`), executed for
//! `admin::execute`, locally or inside a running server. `ack` and `test` read the sinks from the
//! configuration of the data directory the client names, as `snapshot create` reads its key there.

use std::path::Path;

use crate::admin::{fmt_time, table, AdminError, Request};
use crate::store::{AlertState, Store};

use super::dispatch::build_sinks;
use super::engine::{new_id, Engine};
use super::render::{test_notification, to_notification};

fn invalid(e: impl std::fmt::Display) -> AdminError {
    AdminError::Invalid(e.to_string())
}

fn settings(data_dir: &str) -> Result<super::config::AlertSettings, AdminError> {
    crate::config::load(Path::new(data_dir))
        .map(|s| s.alerts)
        .map_err(|errors| {
            invalid(
                errors
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            )
        })
}

/// Executes one alerts request; other requests are refused.
pub async fn execute(
    store: &dyn Store,
    actor: &str,
    now_ms: i64,
    req: Request,
) -> Result<String, AdminError> {
    match req {
        Request::AlertsList { org, state, json } => {
            let state = match state.as_deref() {
                None => None,
                Some("open") => Some(AlertState::Open),
                Some("acked") => Some(AlertState::Acked),
                Some("resolved") => Some(AlertState::Resolved),
                Some(other) => {
                    return Err(invalid(format!(
                        "--state {other:?}: use open, acked or resolved"
                    )))
                }
            };
            let mut alerts: Vec<_> = store
                .alerts(org.as_deref())
                .await?
                .into_iter()
                .filter(|a| state.is_none_or(|s| a.state == s))
                .collect();
            alerts.sort_by(|a, b| (a.opened_at_ms, &a.id).cmp(&(b.opened_at_ms, &b.id)));
            if json {
                return serde_json::to_string_pretty(&alerts)
                    .map(|s| s + "\n")
                    .map_err(invalid);
            }
            let rows: Vec<[String; 9]> = alerts
                .into_iter()
                .map(|a| {
                    let host = super::sinks::text::one_line(if a.hostname.is_empty() {
                        &a.subject
                    } else {
                        &a.hostname
                    });
                    [
                        a.id,
                        a.group.unwrap_or_else(|| "-".into()),
                        a.org,
                        host,
                        a.check_id,
                        a.severity,
                        a.state.as_str().to_owned(),
                        fmt_time(a.opened_at_ms),
                        super::sinks::text::one_line(&a.detail),
                    ]
                })
                .collect();
            Ok(table(
                &[
                    "ID", "GROUP", "ORG", "HOST", "CHECK", "SEVERITY", "STATE", "OPENED", "DETAIL",
                ],
                &rows,
            ))
        }
        Request::AlertsAck {
            id,
            comment,
            data_dir,
        } => {
            let engine = Engine::new(settings(&data_dir)?).map_err(invalid)?;
            let acked = engine
                .acknowledge(store, now_ms, &id, actor, &comment)
                .await
                .map_err(invalid)?;
            Ok(acked
                .iter()
                .map(|a| format!("alert {} acknowledged\n", a.id))
                .collect())
        }
        Request::AlertsTest { org, data_dir } => {
            if store.org(&org).await?.is_none() {
                return Err(invalid(format!("organisation {org:?} does not exist")));
            }
            let settings = settings(&data_dir)?;
            let sinks = build_sinks(&settings).map_err(|errors| {
                invalid(
                    errors
                        .iter()
                        .map(|(k, m)| format!("key `{k}`: {m}"))
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })?;
            let mut out = String::new();
            let mut failed = 0;
            let mut tried = 0;
            for (spec, sink) in sinks.iter().filter(|(s, _)| s.org == org || s.org == "*") {
                tried += 1;
                let record = test_notification(&new_id("test"), &org, &spec.name, now_ms);
                match sink.deliver(&to_notification(&record)).await {
                    Ok(()) => out.push_str(&format!("{}\t{}\tok\n", spec.name, spec.kind.as_str())),
                    Err(e) => {
                        failed += 1;
                        out.push_str(&format!(
                            "{}\t{}\tfailed: {e}\n",
                            spec.name,
                            spec.kind.as_str()
                        ));
                    }
                }
            }
            if tried == 0 {
                return Err(invalid(format!(
                    "organisation {org:?} has no alert sink in [[alerts.sink]]"
                )));
            }
            if failed > 0 {
                return Err(AdminError::Invalid(format!(
                    "{failed} of {tried} sinks failed:\n{}",
                    out.trim_end()
                )));
            }
            Ok(out)
        }
        Request::AlertsSinks => {
            let pending = store.all_outbox().await?;
            let rows: Vec<[String; 9]> = store
                .sink_health()
                .await?
                .into_iter()
                .map(|h| {
                    let waiting = pending.iter().filter(|e| e.sink == h.sink).count();
                    [
                        h.sink,
                        h.org,
                        h.delivered.to_string(),
                        h.failures.to_string(),
                        h.consecutive_failures.to_string(),
                        h.abandoned.to_string(),
                        waiting.to_string(),
                        fmt_time(h.last_success_ms.max(h.last_failure_ms)),
                        super::sinks::text::one_line(&h.last_error),
                    ]
                })
                .collect();
            Ok(table(
                &[
                    "SINK",
                    "ORG",
                    "DELIVERED",
                    "FAILURES",
                    "CONSECUTIVE",
                    "ABANDONED",
                    "PENDING",
                    "LAST ATTEMPT",
                    "LAST ERROR",
                ],
                &rows,
            ))
        }
        other => Err(invalid(format!("not an alerts request: {other:?}"))),
    }
}
