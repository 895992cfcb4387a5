//! Runs every probe of a cycle, each in its own tokio task under a deadline, and turns each outcome
//! into one `DomainState`: the probe's state, or an error state for a failure, a timeout or a panic
//! (DESIGN decision 19). Never fails as a whole. Not here: when cycles run, or what happens to the
//! states afterwards.

use std::any::Any;
use std::sync::Arc;
use std::time::Duration;

use vigie_proto::v1::domain_state::State;
use vigie_proto::v1::DomainState;

use super::{Probe, ProbeCx, ProbeError};

/// Most time the runner adds to a probe's own timeout (a tenth of it, at most this), so that the
/// probe's own timeout error, which names the tool, normally wins over the runner's generic one.
const RUNNER_GRACE: Duration = Duration::from_secs(5);

/// Runs `probes` concurrently and returns one state per probe, in registry order.
///
/// Probes are `Arc`s because each runs in a `'static` task; turn the registry's boxes into them
/// once with `all_probes(cfg)?.into_iter().map(Arc::from).collect::<Vec<Arc<dyn Probe>>>()`.
pub async fn run_all(probes: &[Arc<dyn Probe>], cx: &ProbeCx) -> Vec<DomainState> {
    let shared = Arc::new(cx.clone());
    let handles: Vec<_> = probes
        .iter()
        .map(|probe| {
            let probe = Arc::clone(probe);
            let cx = Arc::clone(&shared);
            let own = probe.timeout(&cx);
            let deadline = own.saturating_add(RUNNER_GRACE.min(own / 10));
            let handle = tokio::spawn(async move { probe.collect(&cx).await });
            (deadline, handle)
        })
        .collect();

    let mut states = Vec::with_capacity(probes.len());
    for (probe, (deadline, mut handle)) in probes.iter().zip(handles) {
        let outcome = match tokio::time::timeout(deadline, &mut handle).await {
            Ok(Ok(result)) => result,
            Ok(Err(join)) if join.is_panic() => Err(ProbeError::Panicked {
                probe: probe.id().to_owned(),
                message: panic_message(join.into_panic()),
            }),
            Ok(Err(join)) => Err(ProbeError::Cancelled {
                probe: probe.id().to_owned(),
                message: join.to_string(),
            }),
            Err(_elapsed) => {
                // Dropping the future kills the tools it runs (they are spawned with
                // kill_on_drop); blocking file reads finish on their own.
                handle.abort();
                Err(ProbeError::Timeout {
                    probe: probe.id().to_owned(),
                    millis: deadline.as_millis(),
                })
            }
        };
        let state = match outcome {
            Ok(state) => state,
            Err(error) => {
                tracing::warn!(probe = probe.id(), code = error.code(), error = %error, "Probe failed.");
                State::Error(error.to_wire())
            }
        };
        states.push(DomainState {
            domain: probe.domain() as i32,
            probe_id: probe.id().to_owned(),
            collected_at_ms: cx.now_ms,
            state_id: new_state_id(),
            chunk_index: 0,
            chunk_count: 1,
            state: Some(state),
        });
    }
    states
}

/// A short random id shared by the chunks of one state.
fn new_state_id() -> String {
    format!("{:016x}", rand::random::<u64>())
}

fn panic_message(payload: Box<dyn Any + Send>) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "non-string panic payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use async_trait::async_trait;
    use vigie_proto::v1::{Domain, Inventory};

    enum Behaviour {
        Ok,
        Fail,
        Panic,
        Hang,
    }

    struct Fake(Behaviour);

    #[async_trait]
    impl Probe for Fake {
        fn id(&self) -> &'static str {
            "test.fake"
        }
        fn domain(&self) -> Domain {
            Domain::Inventory
        }
        fn timeout(&self, _cx: &ProbeCx) -> Duration {
            Duration::from_millis(10)
        }
        async fn collect(&self, _cx: &ProbeCx) -> Result<State, ProbeError> {
            match self.0 {
                Behaviour::Ok => Ok(State::Inventory(Inventory::default())),
                Behaviour::Fail => Err(ProbeError::AptGetMissing {
                    path: "/nope".into(),
                }),
                Behaviour::Panic => panic!("boom"),
                Behaviour::Hang => {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                    Ok(State::Inventory(Inventory::default()))
                }
            }
        }
    }

    #[track_caller]
    fn check(state: &DomainState, expect_code: Option<&str>) {
        assert_eq!(state.domain, Domain::Inventory as i32);
        assert_eq!(state.probe_id, "test.fake");
        assert_eq!(state.collected_at_ms, 42);
        assert_eq!((state.chunk_index, state.chunk_count), (0, 1));
        assert_eq!(state.state_id.len(), 16);
        match (&state.state, expect_code) {
            (Some(State::Inventory(_)), None) => {}
            (Some(State::Error(e)), Some(code)) => assert_eq!(e.code, code, "{}", e.message),
            (other, _) => panic!("unexpected state {other:?}"),
        }
    }

    #[tokio::test]
    async fn every_outcome_becomes_a_state() {
        let probes: Vec<Arc<dyn Probe>> = vec![
            Arc::new(Fake(Behaviour::Ok)),
            Arc::new(Fake(Behaviour::Fail)),
            Arc::new(Fake(Behaviour::Panic)),
            Arc::new(Fake(Behaviour::Hang)),
        ];
        let cx = ProbeCx {
            root: "/".into(),
            state_dir: None,
            now_ms: 42,
            role: None,
            command_timeout: Duration::from_secs(1),
        };
        let states = run_all(&probes, &cx).await;
        assert_eq!(states.len(), 4);
        check(&states[0], None);
        check(&states[1], Some("AG0101"));
        check(&states[2], Some("AG0107"));
        check(&states[3], Some("AG0106"));
        if let Some(State::Error(e)) = &states[2].state {
            assert!(e.message.contains("boom"));
        }
    }
}
