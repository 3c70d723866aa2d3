//! Child processes the harness owns: started in a process group of their own, so that one
//! signal reaches everything they fork, and always reaped.

use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus};
use std::time::{Duration, Instant};

use rustix::process::{Pid, Signal};

use crate::HarnessError;

/// How long a process group gets to exit after SIGTERM before it is sent SIGKILL.
const GRACE: Duration = Duration::from_secs(2);

/// A child process leading its own process group. Dropping it terminates the whole group.
#[derive(Debug)]
pub struct GroupChild {
    program: PathBuf,
    child: Child,
    exited: Option<ExitStatus>,
}

impl GroupChild {
    /// Spawns `command` as the leader of a new process group.
    pub fn spawn(mut command: Command) -> Result<Self, HarnessError> {
        use std::os::unix::process::CommandExt as _;
        let program = PathBuf::from(command.get_program());
        let child = command
            .process_group(0)
            .spawn()
            .map_err(|source| HarnessError::Spawn {
                program: program.clone(),
                source,
            })?;
        Ok(Self {
            program,
            child,
            exited: None,
        })
    }

    /// The leader's process id, which is also the group id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// The leader's exit status if it has exited, without blocking.
    pub fn try_wait(&mut self) -> Result<Option<ExitStatus>, HarnessError> {
        if self.exited.is_none() {
            self.exited = self.child.try_wait().map_err(|source| {
                HarnessError::io(format!("wait for {}", self.program.display()), source)
            })?;
        }
        Ok(self.exited)
    }

    /// Sends SIGTERM to the group, then SIGKILL after a grace period, and reaps the leader.
    pub fn terminate(&mut self) {
        signal_group(self.id(), Signal::TERM);
        let deadline = Instant::now() + GRACE;
        while Instant::now() < deadline {
            match self.try_wait() {
                Ok(None) => std::thread::sleep(Duration::from_millis(20)),
                Ok(Some(_)) | Err(_) => break,
            }
        }
        // Forked children may outlive the leader; the group id stays theirs while they live.
        signal_group(self.id(), Signal::KILL);
        if self.exited.is_none() {
            self.exited = self.child.wait().ok();
        }
    }
}

impl Drop for GroupChild {
    fn drop(&mut self) {
        self.terminate();
    }
}

/// Sends SIGTERM to the single process `pid` (for example a `tokio::process::Child` a test
/// started itself, to check how it shuts down). Errors (already gone) are ignored; pids 0 and
/// 1, which would signal a whole group or every process, are refused.
pub fn terminate_process(pid: u32) {
    signal_process(pid, Signal::TERM);
}

/// Sends `signal` to the process group `pgid`. Errors (already gone) are ignored.
pub(crate) fn signal_group(pgid: u32, signal: Signal) {
    // Never 0 or 1: kill(0) is our own group and kill(-1) is every process we may signal.
    if let Some(pid) = checked_pid(pgid) {
        let _ = rustix::process::kill_process_group(pid, signal);
    }
}

/// Sends `signal` to the single process `pid`. Errors (already gone) are ignored.
pub(crate) fn signal_process(pid: u32, signal: Signal) {
    if let Some(pid) = checked_pid(pid) {
        let _ = rustix::process::kill_process(pid, signal);
    }
}

fn checked_pid(raw: u32) -> Option<Pid> {
    let raw = i32::try_from(raw).ok().filter(|&raw| raw > 1)?;
    Pid::from_raw(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_pids_that_would_signal_everything() {
        assert!(checked_pid(0).is_none());
        assert!(checked_pid(1).is_none());
        assert!(checked_pid(u32::MAX).is_none());
        assert!(checked_pid(4242).is_some());
    }

    #[test]
    fn dropping_a_group_child_kills_its_grandchildren() {
        let mut command = Command::new("/bin/sh");
        command.args(["-c", "sleep 30 & echo $! ; wait"]);
        command.stdout(std::process::Stdio::piped());
        let mut child = GroupChild::spawn(command).unwrap();
        let mut line = String::new();
        let stdout = child.child.stdout.take().unwrap();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(stdout), &mut line).unwrap();
        let grandchild = line.trim().to_owned();
        let started = Instant::now();
        drop(child);
        assert!(started.elapsed() < GRACE + Duration::from_secs(1));
        // The grandchild was reparented; it must die (or become a zombie awaiting init).
        // Signal delivery is asynchronous, so allow it a moment rather than racing it.
        let alive = || {
            let state =
                std::fs::read_to_string(format!("/proc/{grandchild}/stat")).unwrap_or_default();
            let running = state
                .rsplit(')')
                .next()
                .and_then(|rest| rest.split_whitespace().next())
                .is_some_and(|s| s != "Z" && s != "X");
            running.then_some(state)
        };
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive().is_some() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        if let Some(state) = alive() {
            panic!("grandchild {grandchild} survived: {state}");
        }
    }
}
