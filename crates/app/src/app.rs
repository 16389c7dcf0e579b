//! [`App`]: one plain function per IPC command. It is a cheap handle (clone it freely) over
//! the running jobs, the subscriptions and the persisted settings and agents. The commands
//! live by area: `jobs`, `history`, `agents`; settings and files are here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};

use tidemark_core::queue::JobQueue;
use tidemark_core::{ErrorCode, ErrorInfo};
use tidemark_plans::{Launcher, Plan, PlanSummary, SchedulerConfig, SchedulerHandle};
use tidemark_store::RecordedJob;
use tidemark_store::{Pool, Pooled, Registry, recover};
use tokio::runtime::Handle;
use tokio::sync::broadcast;
use tokio::task::JoinHandle;

use crate::config::{AppConfig, Hooks, StoredAgent};
use crate::error::{Error, Result};
use crate::fleet::{FleetHandle, Schedule};
use crate::live::{JobInfo, Paused};
use crate::notify::{self, Notification, Notifier};
use crate::settings::{self, AGENTS_FILE, SETTINGS_FILE};
use crate::tokens::TokenStore;
use crate::types::{Fleet, Settings};

pub(crate) struct Inner {
    pub config: AppConfig,
    /// The history's connections, for the app's whole life.
    pool: Pool,
    pub runtime: Handle,
    /// The jobs running in this process.
    pub jobs: Registry<JobInfo>,
    subs: Mutex<HashMap<u32, JoinHandle<()>>>,
    next_sub: AtomicU32,
    pub settings: Mutex<Settings>,
    pub agents: Mutex<Vec<StoredAgent>>,
    /// Ids of jobs (re)started in this process, for subscribers waiting on an interrupted job.
    pub started: broadcast::Sender<String>,
    pub hooks: Arc<dyn Hooks>,
    /// Held while a job's change is announced and while its end is, so that no announcement
    /// of it as active can follow the one of its end (see `announce`).
    pub(crate) announcing: Mutex<()>,
    notifier: Arc<dyn Notifier>,
    /// Every stored agent, checked in the background (see `fleet`).
    pub(crate) fleet: FleetHandle,
    /// Where the agents' tokens are kept.
    pub(crate) tokens: TokenStore,
    /// "Pause everything", while it lasts.
    pub(crate) paused: Mutex<Option<Paused>>,
    /// Starts the plans' due runs (see `plans`).
    pub(crate) scheduler: SchedulerHandle,
    /// The line every job of the app waits in (at most `Settings::max_jobs` run).
    pub(crate) queue: JobQueue,
    /// The snapshot manifest read last, by its archive (see `restore`).
    pub(crate) last_manifest: Mutex<Option<(String, Arc<tidemark_core::Manifest>)>>,
}

#[derive(Clone)]
pub struct App {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("App")
            .field("db", &self.inner.config.db)
            .finish_non_exhaustive()
    }
}

/// The actor's news to the app, which it holds weakly: a dropped app publishes nothing.
struct FleetOutput(pub Weak<Inner>);

impl crate::fleet::Output for FleetOutput {
    fn changed(&self, fleet: &Fleet) {
        if let Some(inner) = self.0.upgrade() {
            let fleet = Fleet {
                tokens: inner.tokens.storage(),
                ..fleet.clone()
            };
            inner.hooks.fleet_changed(&fleet);
        }
    }

    fn notify(&self, n: &Notification) {
        if let Some(inner) = self.0.upgrade() {
            App { inner }.send_notification(n);
        }
    }
}

/// The scheduler's way into the app (see `plans`). Weak: a dropped app stops launching.
struct AppLauncher(Weak<Inner>);

impl AppLauncher {
    fn app(&self) -> Option<App> {
        self.0.upgrade().map(|inner| App { inner })
    }
}

impl Launcher for AppLauncher {
    /// A due run starts like any job of the app: its queue, its tracking, its notifications.
    fn launch(&self, plan: &Plan) -> std::result::Result<String, ErrorInfo> {
        let app = self
            .app()
            .ok_or_else(|| ErrorInfo::new(ErrorCode::Internal, "the app is closing"))?;
        let launch = app.launch_for(Some(plan));
        let job = RecordedJob::start_with(app.db(), plan.spec.clone(), None, launch)
            .map_err(|e| ErrorInfo::from(Error::from(e)))?;
        let id = job.id().to_owned();
        app.track(job, plan.spec.clone());
        Ok(id)
    }

    fn plan_stale(&self, plan: &PlanSummary) {
        if let Some(app) = self.app() {
            app.send_notification(&notify::stale_notification(plan));
        }
    }

    fn plans_changed(&self) {
        if let Some(app) = self.app() {
            match app.list_plans() {
                Ok(plans) => app.inner.hooks.plans_changed(&plans),
                Err(e) => tracing::warn!("plans: {e}"),
            }
        }
    }
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic elsewhere must not take every later command down with it.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl App {
    /// Opens the app's state. Jobs a dead process left running become `interrupted` now;
    /// a history that cannot be opened is reported by the commands that need it, so the
    /// window still comes up and says what is wrong.
    pub fn new(
        config: AppConfig,
        runtime: Handle,
        hooks: Arc<dyn Hooks>,
        notifier: Arc<dyn Notifier>,
    ) -> App {
        let dir = config.config.clone();
        let settings: Settings = settings::load_json(&dir.join(SETTINGS_FILE));
        let mut agents: Vec<StoredAgent> = settings::load_json(&dir.join(AGENTS_FILE));
        let tokens = TokenStore::new(config.keychain.clone(), &dir);
        // Links and tokens an older version kept in agents.json leave it now.
        let unlinked = agents
            .iter_mut()
            .map(StoredAgent::unlink)
            .filter(|&u| u)
            .count()
            > 0;
        if (tokens.load(&mut agents) || unlinked)
            && let Err(e) = settings::save_json(&dir.join(AGENTS_FILE), &agents, true)
        {
            tracing::error!("agents: {e}");
        }
        let queue = JobQueue::new(settings.max_jobs as usize);
        let pool = Pool::new(config.db.clone());
        if let Err(e) = pool.get().and_then(|mut s| recover(&mut s)) {
            tracing::error!("history: {e}");
        }
        let app = App {
            inner: Arc::new_cyclic(|inner| {
                // The actor holds the app weakly: it stops when the app is dropped.
                let output = Arc::new(FleetOutput(inner.clone()));
                let fleet = FleetHandle::spawn(&runtime, output, Schedule::default());
                let scheduler = SchedulerHandle::spawn(
                    &runtime,
                    SchedulerConfig::new(config.db.clone()),
                    Arc::new(AppLauncher(inner.clone())),
                );
                Inner {
                    pool,
                    config,
                    runtime,
                    jobs: Registry::default(),
                    subs: Mutex::new(HashMap::new()),
                    next_sub: AtomicU32::new(1),
                    settings: Mutex::new(settings),
                    agents: Mutex::new(agents),
                    started: broadcast::channel(64).0,
                    hooks,
                    announcing: Mutex::new(()),
                    notifier,
                    fleet,
                    tokens,
                    paused: Mutex::new(None),
                    scheduler,
                    queue,
                    last_manifest: Mutex::new(None),
                }
            }),
        };
        for agent in lock(&app.inner.agents).iter() {
            app.check_in_background(agent);
        }
        app.adopt_saved_pause();
        app
    }

    pub(crate) fn scheduler(&self) -> &SchedulerHandle {
        &self.inner.scheduler
    }

    pub fn db(&self) -> &Path {
        &self.inner.config.db
    }

    /// A connection to the history, from the app's pool (opened once, then reused).
    pub(crate) fn store(&self) -> Result<Pooled<'_>> {
        Ok(self.inner.pool.get()?)
    }

    pub(crate) fn send_notification(&self, n: &Notification) {
        let now = chrono::Local::now().time();
        if !notify::allowed(n.kind, &lock(&self.inner.settings), now) {
            return;
        }
        if let Err(e) = self.inner.notifier.notify(n) {
            tracing::warn!(title = %n.title, "notification not shown: {e}");
        }
    }

    pub(crate) fn register(&self, task: JoinHandle<()>) -> u32 {
        let n = self.inner.next_sub.fetch_add(1, Ordering::Relaxed);
        let mut subs = lock(&self.inner.subs);
        subs.retain(|_, t| !t.is_finished());
        subs.insert(n, task);
        n
    }

    pub fn unsubscribe(&self, subscription: u32) -> Result<()> {
        if let Some(task) = lock(&self.inner.subs).remove(&subscription) {
            task.abort();
        }
        Ok(())
    }

    // ---- settings ----

    pub fn get_settings(&self) -> Settings {
        lock(&self.inner.settings).clone()
    }

    pub fn set_settings(&self, new: Settings) -> Result<Settings> {
        settings::validate(&new)?;
        let path = self.inner.config.config.join(SETTINGS_FILE);
        settings::save_json(&path, &new, false)?;
        self.inner.queue.set_limit(new.max_jobs as usize);
        *lock(&self.inner.settings) = new.clone();
        Ok(new)
    }

    // ---- files ----

    /// Checks a path the UI wants revealed: it must be an existing folder or file; a file
    /// reveals its folder. The shell does the opening.
    pub fn folder_to_open(&self, path: &str) -> Result<PathBuf> {
        let p = Path::new(non_empty(path, "path")?);
        if !p.is_absolute() {
            return Err(Error::InvalidInput(format!(
                "{path:?} is not an absolute path"
            )));
        }
        let meta = std::fs::metadata(p)
            .map_err(|_| Error::NotFound(format!("{} does not exist", p.display())))?;
        Ok(if meta.is_dir() {
            p.to_path_buf()
        } else {
            p.parent().map(Path::to_path_buf).unwrap_or_default()
        })
    }
}

pub(crate) fn non_empty<'a>(s: &'a str, what: &str) -> Result<&'a str> {
    let t = s.trim();
    if t.is_empty() {
        Err(Error::InvalidInput(format!("the {what} is empty")))
    } else {
        Ok(t)
    }
}
