//! Politeness of long passes (first baseline, full re-hash): idle I/O priority for the calling
//! thread through `ionice` (util-linux; the workspace forbids the unsafe `ioprio_set` call), and
//! back to best-effort afterwards. Where the kernel or the I/O scheduler does not allow it, the pass
//! still runs, on one thread.

use std::process::{Command, Stdio};

/// Sets the calling thread's I/O class: idle (`true`) or best-effort, level 4 (`false`). Returns
/// whether it took.
pub fn idle_io(on: bool) -> bool {
    let tid = rustix::thread::gettid().as_raw_nonzero().get().to_string();
    let class: &[&str] = if on {
        &["-c", "3"]
    } else {
        &["-c", "2", "-n", "4"]
    };
    Command::new("ionice")
        .args(class)
        .args(["-p", &tid])
        .env("LC_ALL", "C")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_thread_gets_idle_io_and_gives_it_back() {
        let read = |tid: &str| {
            let out = Command::new("ionice").args(["-p", tid]).output().unwrap();
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        };
        std::thread::spawn(move || {
            let tid = rustix::thread::gettid().as_raw_nonzero().get().to_string();
            assert!(idle_io(true));
            assert_eq!(read(&tid), "idle");
            assert!(idle_io(false));
            assert_eq!(read(&tid), "best-effort: prio 4");
        })
        .join()
        .unwrap();
    }
}
