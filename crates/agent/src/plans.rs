//! Plans on the agent: tidemark-plans' operations behind the agent's rules (a plan's paths
//! lie under a root, a read-only token only looks), and the scheduler that runs them, whose
//! runs start as `POST /api/v1/jobs` starts a job, recorded with their plan.

use std::sync::{Arc, Weak};
use std::time::Duration;

use tidemark_core::{ErrorCode, ErrorInfo};
use tidemark_plans::{
    Launcher, Plan, PlanError, PlanInput, PlanSummary, SchedulerConfig, SchedulerHandle, ops,
};
use tidemark_store::{JobRecord, RecordedJob};

use crate::auth::Identity;
use crate::service::{Agent, ApiError, may_act};

impl From<PlanError> for ApiError {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Store(e) => e.into(),
            e => ApiError::Plan(e.info()),
        }
    }
}

/// The scheduler's way of starting a plan's run: the agent's own job path.
struct AgentLauncher(Weak<Agent>);

impl Launcher for AgentLauncher {
    fn launch(&self, plan: &Plan) -> Result<String, ErrorInfo> {
        let agent = self
            .0
            .upgrade()
            .ok_or_else(|| ErrorInfo::new(ErrorCode::Internal, "the agent is stopping"))?;
        agent.launch_plan(plan)
    }
}

impl Agent {
    /// Starts the plans' scheduler on this agent's history (once).
    pub fn start_scheduler(self: &Arc<Self>, runtime: &tokio::runtime::Handle) {
        let launcher = Arc::new(AgentLauncher(Arc::downgrade(self)));
        let config = SchedulerConfig::new(self.db.clone());
        let _set = self
            .scheduler
            .set(SchedulerHandle::spawn(runtime, config, launcher));
    }

    fn reload_plans(&self) {
        if let Some(s) = self.scheduler.get() {
            s.reload();
        }
    }

    /// A run of `plan`, started and tracked as any job of the agent's, recorded with its plan
    /// and its ETA seeded from the plan's past runs.
    fn launch_plan(&self, plan: &Plan) -> Result<String, ErrorInfo> {
        let eta_seed = match self.store() {
            Ok(store) => ops::eta_seed_of(&store, plan),
            Err(e) => {
                tracing::warn!(plan = %plan.name, error = %e, "no ETA from past runs");
                None
            }
        };
        let launch = tidemark_store::Launch {
            plan_id: Some(plan.id.clone()),
            eta_seed,
            ..self.launch.clone()
        };
        let job = RecordedJob::start_with(&self.db, plan.spec.clone(), None, launch)
            .map_err(|e| ErrorInfo::new(e.code(), e.to_string()))?;
        let id = job.id().to_owned();
        self.track(job);
        Ok(id)
    }

    pub fn plans(&self) -> Result<Vec<PlanSummary>, ApiError> {
        Ok(ops::list(&*self.store()?)?)
    }

    pub fn plan(&self, name: &str) -> Result<PlanSummary, ApiError> {
        Ok(ops::show(&*self.store()?, name)?)
    }

    pub fn add_plan(&self, who: &Identity, mut input: PlanInput) -> Result<PlanSummary, ApiError> {
        may_act(who)?;
        input.spec = self.confine_spec(input.spec)?;
        let store = self.store()?;
        let plan = ops::add(&store, &input)?;
        self.reload_plans();
        Ok(ops::show(&store, &plan.name)?)
    }

    pub fn remove_plan(&self, who: &Identity, name: &str) -> Result<Plan, ApiError> {
        may_act(who)?;
        let plan = ops::remove(&mut *self.store()?, name)?;
        self.reload_plans();
        Ok(plan)
    }

    /// Runs the plan now (refused while a run of it is going on).
    pub fn run_plan(&self, who: &Identity, name: &str) -> Result<JobRecord, ApiError> {
        may_act(who)?;
        let mut store = self.store()?;
        let (plan, key) = ops::claim_now(&mut store, name)?;
        let started = self.launch_plan(&plan);
        ops::record_launch(
            &store,
            &plan,
            &key,
            started.as_ref().ok().map(String::as_str),
        )?;
        let id = started.map_err(|e| ApiError::Internal(e.message))?;
        drop(store);
        self.reload_plans();
        self.visible(who, &id)
    }

    pub fn pause_plan(
        &self,
        who: &Identity,
        name: &str,
        seconds: Option<u64>,
    ) -> Result<PlanSummary, ApiError> {
        may_act(who)?;
        let store = self.store()?;
        ops::pause(&store, name, seconds.map(Duration::from_secs))?;
        self.reload_plans();
        Ok(ops::show(&store, name)?)
    }

    pub fn resume_plan(&self, who: &Identity, name: &str) -> Result<PlanSummary, ApiError> {
        may_act(who)?;
        let store = self.store()?;
        ops::resume(&store, name)?;
        self.reload_plans();
        Ok(ops::show(&store, name)?)
    }
}
