//! The threads the simulated clients run on. Each has a single-threaded runtime of its
//! own, so that a client's connections, its signaling and its thread's shard of the metrics
//! stay together on one thread and never contend with another thread's.

use std::io;
use std::thread::JoinHandle;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

/// The cores this process may run on (its CPU affinity), at least one.
pub fn available() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Running client threads; dropping them stops them and the clients on them.
pub struct Threads {
    handles: Vec<Handle>,
    running: Vec<(oneshot::Sender<()>, JoinHandle<()>)>,
}

impl Threads {
    /// Starts `count` threads (at least one).
    pub fn start(count: usize) -> io::Result<Threads> {
        let mut threads = Threads {
            handles: Vec::new(),
            running: Vec::new(),
        };
        for index in 0..count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (stop, stopped) = oneshot::channel::<()>();
            threads.handles.push(runtime.handle().clone());
            let thread = std::thread::Builder::new()
                .name(format!("clients-{index}"))
                .spawn(move || {
                    let _ = runtime.block_on(stopped);
                })?;
            threads.running.push((stop, thread));
        }
        Ok(threads)
    }

    /// How many threads run.
    pub fn len(&self) -> usize {
        self.handles.len()
    }

    /// Where to spawn clients: one handle per thread.
    pub fn handles(&self) -> Vec<Handle> {
        self.handles.clone()
    }
}

impl Drop for Threads {
    fn drop(&mut self) {
        for (stop, thread) in self.running.drain(..) {
            let _ = stop.send(());
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tasks_run_on_every_thread_until_the_threads_stop() {
        let threads = Threads::start(3).unwrap();
        assert_eq!(threads.len(), 3);
        let names: Vec<String> = threads
            .handles()
            .iter()
            .map(|handle| {
                let (tx, rx) = std::sync::mpsc::channel();
                handle.spawn(async move {
                    let name = std::thread::current().name().map(str::to_owned);
                    tx.send(name.unwrap_or_default()).unwrap();
                });
                rx.recv().unwrap()
            })
            .collect();
        assert_eq!(names, ["clients-0", "clients-1", "clients-2"]);
        drop(threads);
    }
}
