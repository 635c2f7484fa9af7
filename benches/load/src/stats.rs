//! What the load measures: latency samples and percentiles, the provider's peak RSS and CPU time, the machine's
//! CPU time (to see what else used it), and the per-phase report.
//!
//! Must not: drive any load.

pub(crate) fn rss_peak_kib(pid: u32) -> Option<u64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

pub(crate) fn pct(v: &mut [f64], p: f64) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

#[derive(Default)]
pub(crate) struct Samples {
    pub(crate) authorize: Vec<f64>,
    pub(crate) token: Vec<f64>,
    pub(crate) userinfo: Vec<f64>,
    pub(crate) flow: Vec<f64>,
    /// Open loop: how long after its due time each flow started.
    pub(crate) lag: Vec<f64>,
    pub(crate) errors: usize,
}

impl Samples {
    pub(crate) fn extend(&mut self, o: Samples) {
        self.authorize.extend(o.authorize);
        self.token.extend(o.token);
        self.userinfo.extend(o.userinfo);
        self.flow.extend(o.flow);
        self.lag.extend(o.lag);
        self.errors += o.errors;
    }
}

/// The whole machine's CPU time, all CPUs summed, from the first line of `/proc/stat` (clock ticks of 1/100 s).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct MachineCpu {
    /// user, nice, system, irq and softirq: time some process or the kernel ran.
    pub(crate) busy: f64,
    /// Time a virtual CPU was ready but the hypervisor ran something else.
    pub(crate) steal: f64,
}

impl std::ops::Sub for MachineCpu {
    type Output = MachineCpu;
    fn sub(self, o: MachineCpu) -> MachineCpu {
        MachineCpu {
            busy: self.busy - o.busy,
            steal: self.steal - o.steal,
        }
    }
}

/// Parses the aggregate `cpu` line of `/proc/stat` (`cpu user nice system idle iowait irq softirq steal ...`).
pub(crate) fn parse_machine_cpu(stat: &str) -> Option<MachineCpu> {
    let line = stat.lines().next()?;
    let mut f = line.split_whitespace();
    if f.next()? != "cpu" {
        return None;
    }
    let v: Vec<u64> = f.take(8).map(|x| x.parse().ok()).collect::<Option<_>>()?;
    if v.len() < 8 {
        return None;
    }
    let ticks = |x: u64| x as f64 / 100.0;
    Some(MachineCpu {
        busy: ticks(v[0] + v[1] + v[2] + v[5] + v[6]),
        steal: ticks(v[7]),
    })
}

pub(crate) fn machine_cpu() -> Option<MachineCpu> {
    parse_machine_cpu(&std::fs::read_to_string("/proc/stat").ok()?)
}

/// User + system CPU time of a process, from `/proc/<pid>/stat` (clock ticks of 1/100 s).
pub(crate) fn cpu_seconds(pid: u32) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name, which is in parentheses and may hold spaces.
    let rest = s.rsplit_once(')')?.1;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = f.get(11)?.parse().ok()?;
    let stime: f64 = f.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

pub(crate) fn report(name: &str, lat: &mut [f64], errors: usize, elapsed: f64) {
    let n = lat.len();
    let (p50, p99) = (pct(lat, 0.50), pct(lat, 0.99));
    println!(
        "{name:<10} {n:>6} requests  {errors} errors  {:>7.0} req/s   p50 {p50:.2} ms   p99 {p99:.2} ms",
        n as f64 / elapsed
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn machine_cpu_reads_the_aggregate_line() {
        let stat = "cpu  100 5 50 1000 7 3 2 40 0 0\ncpu0 50 2 25 500 3 1 1 20 0 0\n";
        let m = parse_machine_cpu(stat).unwrap();
        assert!((m.busy - 1.60).abs() < 1e-9, "{m:?}");
        assert!((m.steal - 0.40).abs() < 1e-9, "{m:?}");
        // Refused: a per-CPU line first, too few fields, a non-number.
        assert_eq!(parse_machine_cpu("cpu0 1 2 3 4 5 6 7 8\n"), None);
        assert_eq!(parse_machine_cpu("cpu 1 2 3 4 5 6 7\n"), None);
        assert_eq!(parse_machine_cpu("cpu 1 2 3 4 5 x 7 8\n"), None);
        assert_eq!(parse_machine_cpu(""), None);
    }
}
