//! The progress line the long-running tools draw on stderr, only when
//! stderr is a terminal: stdout is the same whether it is drawn or not.
//!
//! The library's own work never draws: a tool's `main` makes a
//! [`Progress`] and says which phase it is in; [`Progress::new`] routes
//! every stderr line of [`crate::cli`] above the bar.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The bar being drawn, if any; shared with the stderr sink and with
/// whatever prints on stdout while the bar is up.
#[derive(Clone, Default)]
pub struct Current(Arc<Mutex<Option<ProgressBar>>>);

impl Current {
    /// Runs `print` with the bar cleared, then redraws it: a line printed
    /// on a terminal does not cut the bar.
    pub fn suspend<T>(&self, print: impl FnOnce() -> T) -> T {
        let bar = self.0.lock().unwrap_or_else(|e| e.into_inner()).clone();
        match bar {
            Some(bar) => bar.suspend(print),
            None => print(),
        }
    }
}

/// A tool's progress line: drawn only when wanted (not `-q`) and stderr
/// is a terminal.
pub struct Progress {
    tool: &'static str,
    enabled: bool,
    current: Current,
}

impl Progress {
    /// `wanted` is false with `-q` (and where `-v`'s lines are the
    /// progress).
    pub fn new(tool: &'static str, wanted: bool) -> Progress {
        let enabled = wanted && std::io::stderr().is_terminal();
        let current = Current::default();
        if enabled {
            let shared = current.clone();
            crate::cli::set_stderr_sink(Box::new(move |line| {
                shared.suspend(|| crate::cli::write_stderr(line))
            }));
        }
        Progress {
            tool,
            enabled,
            current,
        }
    }

    /// The bar, for printing around it (see [`Current::suspend`]).
    pub fn current(&self) -> Current {
        self.current.clone()
    }

    fn show(&self, bar: ProgressBar) {
        let mut current = self.current.0.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = current.replace(bar) {
            old.finish_and_clear();
        }
    }

    /// A spinner saying what is being done, with the time it has taken.
    pub fn phase(&self, message: impl Into<String>) {
        if !self.enabled {
            return;
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        let template = format!("{}: {{spinner}} {{msg}} ({{elapsed}})", self.tool);
        bar.set_style(
            ProgressStyle::with_template(&template)
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        bar.set_message(message.into());
        bar.enable_steady_tick(Duration::from_millis(100));
        self.show(bar);
    }

    /// Runs the signing with a bar of RRsets signed, the token's rate and
    /// the time left.
    pub fn signing<T>(&self, body: impl FnOnce(&crate::sign::SignProgress) -> T) -> T {
        use std::sync::atomic::Ordering::Relaxed;
        let watch = crate::sign::SignProgress::default();
        let template = format!(
            "{}: signing [{{wide_bar}}] {{pos}}/{{len}} RRsets, {{msg}}, ETA {{eta}}",
            self.tool
        );
        self.watched(
            &template,
            |bar, seconds| {
                // No length until the chain is built and the RRsets are counted.
                let rrsets = watch.rrsets.load(Relaxed);
                if rrsets > 0 {
                    bar.set_length(rrsets);
                }
                bar.set_position(watch.done.load(Relaxed));
                let made = watch.generated.load(Relaxed);
                bar.set_message(format!("{:.0} signatures/s", made as f64 / seconds));
            },
            || body(&watch),
        )
    }

    /// Runs a verification with a bar of names checked and the rate of
    /// RRsets verified (while the zone is read: records read).
    pub fn verifying<T>(&self, body: impl FnOnce(&crate::verify_zone::VerifyProgress) -> T) -> T {
        use std::sync::atomic::Ordering::Relaxed;
        let watch = crate::verify_zone::VerifyProgress::default();
        let template = format!(
            "{}: verifying [{{wide_bar}}] {{pos}}/{{len}} names, {{msg}}, ETA {{eta}}",
            self.tool
        );
        let mut checking_since: Option<f64> = None;
        self.watched(
            &template,
            |bar, seconds| {
                let names = watch.names.load(Relaxed);
                if names == 0 {
                    let records = watch.records.load(Relaxed);
                    bar.set_message(format!("reading: {records} records"));
                    return;
                }
                bar.set_length(names);
                bar.set_position(watch.names_done.load(Relaxed));
                let since = *checking_since.get_or_insert(seconds);
                let rrsets = watch.rrsets_done.load(Relaxed);
                let rate = rrsets as f64 / (seconds - since).max(0.001);
                bar.set_message(format!("{rate:.0} RRsets/s"));
            },
            || body(&watch),
        )
    }

    /// Draws a bar updated by `tick` (given the seconds since the start)
    /// ten times a second while `body` runs.
    fn watched<T>(
        &self,
        template: &str,
        mut tick: impl FnMut(&ProgressBar, f64) + Send,
        body: impl FnOnce() -> T,
    ) -> T {
        if !self.enabled {
            return body();
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template(template)
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        );
        self.show(bar.clone());
        let done = std::sync::atomic::AtomicBool::new(false);
        let started = Instant::now();
        std::thread::scope(|scope| {
            // No thread, no progress line: the work goes on without it.
            let _ = std::thread::Builder::new().spawn_scoped(scope, || {
                use std::sync::atomic::Ordering::Relaxed;
                while !done.load(Relaxed) {
                    tick(&bar, started.elapsed().as_secs_f64().max(0.001));
                    std::thread::sleep(Duration::from_millis(100));
                }
            });
            let result = body();
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            result
        })
    }

    /// Takes the line off the terminal (before a prompt, or the end).
    pub fn clear(&self) {
        let bar = self
            .current
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .take();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
    }
}

impl Drop for Progress {
    /// A failure's one line is printed after this: on a clean line.
    fn drop(&mut self) {
        self.clear();
    }
}
