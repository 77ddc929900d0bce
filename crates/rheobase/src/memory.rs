//! How much memory this process may use: the smallest of what the
//! machine, the control group and the resource limits allow. A model is
//! refused against this number before anything is allocated, so it must
//! not be larger than what the kernel will actually grant: under
//! `prlimit --as=2G` or in a container with `memory.max` of 1 GB, a model
//! that needs more is refused with an explanation instead of aborting on
//! the first allocation that fails.
//!
//! Everything is read from `/proc` and `/sys` (Linux); a value that
//! cannot be read does not limit anything, and where none can, 8 GiB is
//! assumed.

use std::path::Path;

/// The memory limit: 75% of the smallest of physical memory, the cgroup's
/// limit and the address-space and data-segment rlimits, less what this
/// process already holds against each. The 25% kept back is for what the
/// estimates do not count (compiled code, thread stacks, the allocator's
/// own overhead).
pub(crate) fn memory_limit() -> u64 {
    const FALLBACK: u64 = 8 << 30;
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let own = |key: &str| status_kib(&status, key).map_or(0, |k| k.saturating_mul(1024));
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
    let room = [
        physical_memory(),
        cgroup_limit(),
        rlimit(&limits, "Max address space").map(|l| l.saturating_sub(own("VmSize:"))),
        rlimit(&limits, "Max data size").map(|l| l.saturating_sub(own("VmData:"))),
    ]
    .into_iter()
    .flatten()
    .min();
    match room {
        Some(bytes) if bytes > 0 => bytes / 4 * 3,
        Some(_) => 0,
        None => FALLBACK,
    }
}

/// `MemTotal` in `/proc/meminfo`, bytes.
fn physical_memory() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    status_kib(&text, "MemTotal:")
        .filter(|&k| k > 0)
        .map(|k| k.saturating_mul(1024))
}

/// A `KEY: N kB` line of `/proc/meminfo` or `/proc/self/status`, in kB.
fn status_kib(text: &str, key: &str) -> Option<u64> {
    text.lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The soft limit of row `name` of `/proc/self/limits` ("Max address
/// space  2147483648  unlimited  bytes"), `None` when unlimited.
fn rlimit(limits: &str, name: &str) -> Option<u64> {
    let rest = limits.lines().find_map(|l| l.strip_prefix(name))?;
    rest.split_whitespace().next()?.parse().ok()
}

/// The smallest memory limit of the control group this process is in and
/// of its parents: cgroup v2 (`memory.max`) and v1
/// (`memory.limit_in_bytes`). What the group already uses is not
/// subtracted: it includes the page cache, which the kernel reclaims
/// before it refuses memory, and would make the limit depend on what was
/// read from disk lately.
fn cgroup_limit() -> Option<u64> {
    let membership = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let mut room: Option<u64> = None;
    let mut consider = |dir: &Path, limit: &str| {
        let read = |name: &str| -> Option<u64> {
            std::fs::read_to_string(dir.join(name))
                .ok()?
                .trim()
                .parse()
                .ok()
        };
        // "max" (v2) does not parse; v1 writes "no limit" as a huge number.
        if let Some(max) = read(limit).filter(|&m| m < 1 << 60) {
            room = Some(room.map_or(max, |r| r.min(max)));
        }
    };
    for line in membership.lines() {
        let mut fields = line.splitn(3, ':');
        let (Some(_), Some(controllers), Some(path)) =
            (fields.next(), fields.next(), fields.next())
        else {
            continue;
        };
        let (root, limit) = if controllers.is_empty() {
            ("/sys/fs/cgroup", "memory.max")
        } else if controllers.split(',').any(|c| c == "memory") {
            ("/sys/fs/cgroup/memory", "memory.limit_in_bytes")
        } else {
            continue;
        };
        // The group and every parent up to the hierarchy's root: a limit
        // anywhere above applies too. Inside a container the path may not
        // exist below the mounted root; then only the root is read.
        let mut dir = Path::new(root).join(path.trim_start_matches('/'));
        loop {
            consider(&dir, limit);
            if dir == Path::new(root) || !dir.pop() {
                break;
            }
        }
    }
    room
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rlimits_read_as_the_kernel_writes_them() {
        let limits = "Limit                     Soft Limit           Hard Limit           Units     \n\
                      Max data size             unlimited            unlimited            bytes     \n\
                      Max address space         2147483648           unlimited            bytes     \n";
        assert_eq!(rlimit(limits, "Max address space"), Some(2_147_483_648));
        assert_eq!(rlimit(limits, "Max data size"), None);
        assert_eq!(rlimit(limits, "Max stack size"), None);
    }

    #[test]
    fn status_lines_are_in_kilobytes() {
        let status = "Name:\trheo\nVmSize:\t  123456 kB\nVmData:\t 42 kB\n";
        assert_eq!(status_kib(status, "VmSize:"), Some(123_456));
        assert_eq!(status_kib(status, "VmData:"), Some(42));
        assert_eq!(status_kib(status, "VmRSS:"), None);
    }
}
