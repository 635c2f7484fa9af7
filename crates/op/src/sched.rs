//! Thread scheduling hints (Linux): which of the provider's threads may preempt which.
//!
//! Every hot request waits for the one SQLite engine thread (see [`crate::store`]), and on a machine with few
//! cores that thread competes with the HTTP workers for CPU. With the kernel's defaults a worker woken by a
//! packet preempts the engine in the middle of a batch, and every request in that batch waits with it.
//! Two hints fix the order, both unprivileged and both inherited by the threads a thread creates:
//!
//! - [`batch_current_thread`]: `SCHED_BATCH`, the normal time-sharing policy minus wakeup preemption. The
//!   binary sets it on its main thread before it starts anything, so the runtime's workers, its blocking
//!   threads and SQLite's pool threads inherit it: they still get their fair share, they just do not cut in.
//! - [`latency_current_thread`]: `SCHED_OTHER` with a short time slice (EEVDF's custom slice, Linux 6.12 and
//!   later; older kernels ignore it): a thread with a short slice has an early virtual deadline, so when it wakes
//!   it runs soon. The store opens its engine connection from a thread set this way, so the engine's SQLite
//!   thread inherits it.
//!
//! The nice value and the reset-on-fork flag are kept. On other systems both functions return
//! [`std::io::ErrorKind::Unsupported`]. Measured effect: docs/benchmarks.md (session 9). Turned off with
//! `thread_tuning = false` in the configuration.
//!
//! ```
//! // A thread that should never cut in front of the others (its children inherit this).
//! std::thread::spawn(|| {
//!     match portcullis_op::sched::batch_current_thread() {
//!         Ok(()) => assert_eq!(
//!             portcullis_op::sched::current_thread().unwrap().policy,
//!             portcullis_op::sched::Policy::Batch
//!         ),
//!         Err(e) => assert_eq!(e.kind(), std::io::ErrorKind::Unsupported),
//!     }
//! })
//! .join()
//! .unwrap();
//! ```

use std::io;
use std::time::Duration;

/// The time slice [`crate::store::Store`] gives its engine thread when asked to: the shortest the kernel allows.
pub const ENGINE_SLICE: Duration = Duration::from_micros(100);

/// A normal (non-real-time) scheduling policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// `SCHED_OTHER`: time sharing with wakeup preemption (the default).
    Other,
    /// `SCHED_BATCH`: time sharing without wakeup preemption.
    Batch,
    /// Any other policy (`SCHED_IDLE`, or a real-time one): never set by this module.
    Unknown(u32),
}

/// A thread's scheduling attributes, as the kernel reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadSched {
    /// The policy.
    pub policy: Policy,
    /// The nice value.
    pub nice: i32,
    /// The time slice the scheduler uses for the thread (the default one unless a custom slice was set; zero
    /// on kernels that do not report it).
    pub slice: Duration,
}

/// Sets the calling thread to `SCHED_BATCH` with the kernel's default slice, keeping its nice value. Threads it
/// creates afterwards inherit this.
pub fn batch_current_thread() -> io::Result<()> {
    imp::set_current(imp::SCHED_BATCH, Duration::ZERO)
}

/// Sets the calling thread to `SCHED_OTHER` with the kernel's default slice (the default attributes), keeping
/// its nice value. Threads it creates afterwards inherit this.
pub fn default_current_thread() -> io::Result<()> {
    imp::set_current(imp::SCHED_OTHER, Duration::ZERO)
}

/// Sets the calling thread to `SCHED_OTHER` with a custom time `slice` (clamped by the kernel to 0.1–100 ms),
/// keeping its nice value. Threads it creates afterwards inherit this.
pub fn latency_current_thread(slice: Duration) -> io::Result<()> {
    if slice.is_zero() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a custom slice must be positive",
        ));
    }
    imp::set_current(imp::SCHED_OTHER, slice)
}

/// The calling thread's scheduling attributes.
pub fn current_thread() -> io::Result<ThreadSched> {
    imp::get(0)
}

/// The scheduling attributes of thread `tid` of this process (Linux thread id, as in `/proc/self/task`).
pub fn thread(tid: i32) -> io::Result<ThreadSched> {
    if tid <= 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "a thread id is positive",
        ));
    }
    imp::get(tid)
}

fn policy_of(p: u32) -> Policy {
    match p {
        0 => Policy::Other,
        3 => Policy::Batch,
        p => Policy::Unknown(p),
    }
}

#[cfg(target_os = "linux")]
#[allow(unsafe_code)]
mod imp {
    //! The two system calls (`sched_getattr`, `sched_setattr`), which libc declares only as numbers.

    use super::{ThreadSched, policy_of};
    use std::io;
    use std::time::Duration;

    pub const SCHED_OTHER: u32 = 0;
    pub const SCHED_BATCH: u32 = 3;
    const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;

    /// `struct sched_attr`, first version (56 bytes), as in `include/uapi/linux/sched/types.h`.
    #[repr(C)]
    #[derive(Default)]
    struct SchedAttr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
        util_min: u32,
        util_max: u32,
    }

    const SIZE: u32 = std::mem::size_of::<SchedAttr>() as u32;
    const _: () = assert!(SIZE == 56);

    fn getattr(tid: i32) -> io::Result<SchedAttr> {
        let mut a = SchedAttr::default();
        // SAFETY: `a` is a live, writable `sched_attr` of `SIZE` bytes; the kernel writes at most `SIZE` bytes
        // into it and keeps no reference after the call returns.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_getattr,
                tid as libc::pid_t,
                &mut a as *mut SchedAttr,
                SIZE,
                0u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(a)
    }

    pub fn get(tid: i32) -> io::Result<ThreadSched> {
        let a = getattr(tid)?;
        Ok(ThreadSched {
            policy: policy_of(a.policy),
            nice: a.nice,
            slice: Duration::from_nanos(a.runtime),
        })
    }

    pub fn set_current(policy: u32, slice: Duration) -> io::Result<()> {
        let now = getattr(0)?;
        let a = SchedAttr {
            size: SIZE,
            policy,
            flags: now.flags & SCHED_FLAG_RESET_ON_FORK,
            nice: now.nice,
            runtime: u64::try_from(slice.as_nanos()).unwrap_or(u64::MAX),
            ..SchedAttr::default()
        };
        // SAFETY: `a` is a fully initialised `sched_attr` of `SIZE` bytes that the kernel only reads, during
        // the call.
        let r = unsafe {
            libc::syscall(
                libc::SYS_sched_setattr,
                0 as libc::pid_t,
                &a as *const SchedAttr,
                0u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

#[cfg(not(target_os = "linux"))]
mod imp {
    use super::ThreadSched;
    use std::io;
    use std::time::Duration;

    pub const SCHED_OTHER: u32 = 0;
    pub const SCHED_BATCH: u32 = 3;

    fn unsupported<T>() -> io::Result<T> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "scheduling hints are Linux only",
        ))
    }

    pub fn get(_tid: i32) -> io::Result<ThreadSched> {
        let _ = super::policy_of;
        unsupported()
    }

    pub fn set_current(_policy: u32, _slice: Duration) -> io::Result<()> {
        unsupported()
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use super::*;

    /// Runs `f` on a fresh thread (so the test harness's threads keep their attributes).
    fn on_thread<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        std::thread::spawn(f).join().unwrap()
    }

    #[test]
    fn batch_is_inherited_and_keeps_the_nice_value() {
        on_thread(|| {
            let before = current_thread().unwrap();
            batch_current_thread().unwrap();
            let after = current_thread().unwrap();
            assert_eq!(after.policy, Policy::Batch);
            assert_eq!(after.nice, before.nice);
            let child = on_thread(|| current_thread().unwrap());
            assert_eq!(child.policy, Policy::Batch);
            assert_eq!(child.nice, before.nice);
        });
    }

    #[test]
    fn a_batch_thread_can_return_to_other_with_a_short_slice() {
        on_thread(|| {
            batch_current_thread().unwrap();
            let default_slice = current_thread().unwrap().slice;
            latency_current_thread(ENGINE_SLICE).unwrap();
            let t = current_thread().unwrap();
            assert_eq!(t.policy, Policy::Other);
            // Kernels before 6.12 have no custom slice and keep (or do not report) the default.
            assert!(t.slice == ENGINE_SLICE || t.slice == default_slice, "{t:?}");
            let child = on_thread(|| current_thread().unwrap());
            assert_eq!(child, t, "a child thread inherits the policy and the slice");
        });
    }

    #[test]
    fn bad_arguments_are_refused() {
        assert_eq!(
            latency_current_thread(Duration::ZERO).unwrap_err().kind(),
            io::ErrorKind::InvalidInput
        );
        assert_eq!(thread(0).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        assert_eq!(thread(-1).unwrap_err().kind(), io::ErrorKind::InvalidInput);
        // No such thread: the kernel's error, not a panic.
        assert!(thread(i32::MAX).is_err());
    }
}
