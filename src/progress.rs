//! How far a full load is, in the figures a person reads: rows of about how many, chunks of
//! about how many, the recent rate and the time left. The same figures go to the log line a
//! table gets every `--progress-interval`, to the live display on a terminal, to the gauges
//! and to `binlake status`.

use std::io::Write;
use std::sync::OnceLock;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressStyle};

/// How far a table's full load is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Figures {
    pub rows: u64,
    /// The server's estimate of the table's rows (0: none).
    pub of_about: u64,
    pub chunks: u64,
    /// The chunks the estimate makes (0: none).
    pub of_chunks: u64,
    /// Rows per second lately, if measured.
    pub rows_per_s: Option<f64>,
}

impl Figures {
    /// A load's figures from the chunks it committed (`binlake status`): the rate is the one up
    /// to its last chunk.
    pub fn of_load(load: &crate::state::LoadProgress) -> Figures {
        let mut rows = 0;
        let samples: Vec<(f64, u64)> = load
            .commits
            .iter()
            .filter_map(|(at, n)| {
                rows += n;
                let at = chrono::DateTime::parse_from_rfc3339(at).ok()?;
                Some((at.timestamp_millis() as f64 / 1000.0, rows))
            })
            .collect();
        Figures {
            rows: load.commits.iter().map(|(_, n)| n).sum(),
            of_about: load.estimated_rows.unwrap_or(0),
            chunks: load.chunks,
            of_chunks: load.estimated_chunks.unwrap_or(0),
            rows_per_s: recent_rate(&samples),
        }
    }

    /// The time left at the recent rate; none without a rate or an estimate. A table larger
    /// than its estimate has a few seconds left, not a negative time.
    pub fn eta(&self) -> Option<Duration> {
        let rate = self.rows_per_s.filter(|r| *r > 0.0)?;
        (self.of_about > 0).then(|| Duration::from_secs_f64(self.of_about.saturating_sub(self.rows) as f64 / rate))
    }

    /// The chunks still expected: the estimate, or one more than done while rows are left.
    pub fn chunks_expected(&self) -> u64 {
        self.of_chunks.max(self.chunks)
    }
}

impl std::fmt::Display for Figures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} rows", self.rows)?;
        if self.of_about > 0 {
            write!(f, " of ~{}", self.of_about)?;
        }
        write!(f, ", {} chunks", self.chunks)?;
        if self.of_chunks > 0 {
            write!(f, " of ~{}", self.chunks_expected())?;
        }
        match self.rows_per_s {
            Some(rate) => write!(f, ", {} rows/s", rate.round() as u64)?,
            None => write!(f, ", rate not known yet")?,
        }
        if let Some(eta) = self.eta() {
            write!(f, ", {} left", human(eta))?;
        }
        Ok(())
    }
}

/// `1h02m`, `4m05s`, `12s`.
pub fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, s / 60 % 60),
    }
}

/// How long the rate is measured over: long enough to smooth chunk commits, short enough to
/// follow a change of speed (other tables finishing, the server busier).
pub const RATE_WINDOW: Duration = Duration::from_secs(120);

/// Rows per second over the last [`RATE_WINDOW`] of `samples`: (seconds, rows so far), in time
/// order. None until two samples are at least a second apart.
pub fn recent_rate(samples: &[(f64, u64)]) -> Option<f64> {
    let &(last_at, last_rows) = samples.last()?;
    let &(first_at, first_rows) = samples.iter().find(|(at, _)| last_at - at <= RATE_WINDOW.as_secs_f64())?;
    let span = last_at - first_at;
    (span >= 1.0).then(|| last_rows.saturating_sub(first_rows) as f64 / span)
}

/// The live display, when stderr is a terminal and logs are text.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Shows full loads as live bars on the terminal from now on; log lines are printed above them.
pub fn enable_bars() {
    let _ = BARS.set(MultiProgress::new());
}

/// True when loads are shown as bars: log lines of their progress would repeat them.
pub fn bars() -> bool {
    BARS.get().is_some()
}

/// A bar for a table's full load, if the display is on.
pub fn bar(table: &str, figures: &Figures) -> Option<ProgressBar> {
    let bars = BARS.get()?;
    let style = ProgressStyle::with_template("{prefix:30!} [{bar:30}] {human_pos}/~{human_len} rows  {msg}")
        .expect("a valid template")
        .progress_chars("=> ");
    let bar = bars.add(ProgressBar::new(figures.of_about.max(figures.rows)).with_style(style).with_prefix(table.to_string()));
    update(&bar, figures);
    bar.enable_steady_tick(Duration::from_millis(500));
    Some(bar)
}

/// Shows `figures` on a table's bar.
pub fn update(bar: &ProgressBar, figures: &Figures) {
    if figures.rows > bar.length().unwrap_or(0) {
        bar.set_length(figures.rows);
    }
    bar.set_position(figures.rows);
    let eta = figures.eta().map_or_else(|| "-".to_string(), human);
    let rate = figures.rows_per_s.map_or_else(|| "-".to_string(), |r| (r.round() as u64).to_string());
    bar.set_message(format!("{rate} rows/s  {}/~{} chunks  eta {eta}", figures.chunks, figures.chunks_expected()));
}

/// Where log lines go: stderr, above the bars while they are shown.
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match BARS.get() {
            Some(bars) => bars.suspend(|| std::io::stderr().write(buf)),
            None => std::io::stderr().write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_is_of_the_last_two_minutes_and_the_eta_follows_it() {
        assert_eq!(recent_rate(&[]), None);
        assert_eq!(recent_rate(&[(0.0, 0), (0.5, 100)]), None);
        // the slow start is out of the window
        let samples = [(0.0, 0), (10.0, 100), (100.0, 10_000), (200.0, 30_000)];
        assert_eq!(recent_rate(&samples), Some(200.0));
        let figures = Figures { rows: 30_000, of_about: 90_000, chunks: 3, of_chunks: 9, rows_per_s: Some(200.0) };
        assert_eq!(figures.eta(), Some(Duration::from_secs(300)));
        assert_eq!(figures.to_string(), "30000 rows of ~90000, 3 chunks of ~9, 200 rows/s, 5m00s left");
        let past = Figures { rows: 95_000, of_chunks: 0, ..figures };
        assert_eq!(past.eta(), Some(Duration::ZERO));
        assert_eq!(Figures { rows_per_s: None, of_about: 0, ..past }.to_string(), "95000 rows, 3 chunks, rate not known yet");
        assert_eq!(human(Duration::from_secs(3725)), "1h02m");
    }

    #[test]
    fn a_stored_load_gives_its_rows_and_the_rate_up_to_its_last_chunk() {
        let load = crate::state::LoadProgress {
            table: crate::schema::TableId::new("db", "t"),
            chunks: 3,
            estimated_rows: Some(10_000),
            estimated_chunks: Some(10),
            commits: vec![
                ("2026-12-07T10:00:00+00:00".into(), 1000),
                ("2026-12-07T10:00:10+00:00".into(), 1000),
                ("2026-12-07T10:00:20+00:00".into(), 2000),
            ],
        };
        let figures = Figures::of_load(&load);
        assert_eq!((figures.rows, figures.chunks, figures.of_about, figures.of_chunks), (4000, 3, 10_000, 10));
        assert_eq!(figures.rows_per_s, Some(150.0));
        assert_eq!(figures.eta(), Some(Duration::from_secs(40)));
    }
}
