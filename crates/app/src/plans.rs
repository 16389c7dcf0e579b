//! Plans in the desktop app: one plain function per command over `tidemark_plans`, and the
//! app's side of the scheduler ([`AppLauncher`]): a due run starts like any job of the app
//! (the same queue, the same tracking, the same notifications), a stale plan is announced,
//! and every change reaches the windows and the tray as `plans-changed`.

use tidemark_plans::{PlanError, PlanInput, PlanRun, PlanSummary, ops};

use crate::app::App;
use crate::error::{Error, Result};
use crate::types::JobSummary;

/// The formats a plan's runs are exported in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(rename_all = "camelCase")]
pub enum ExportFormat {
    Csv,
    Json,
}

impl From<PlanError> for Error {
    fn from(e: PlanError) -> Self {
        Error::Plan(e.info())
    }
}

impl App {
    pub fn list_plans(&self) -> Result<Vec<PlanSummary>> {
        Ok(ops::list(&*self.store()?)?)
    }

    /// Refused with a clear error, before anything is saved, for a bad schedule, a
    /// duplicate name or a missing folder.
    pub fn add_plan(&self, input: PlanInput) -> Result<PlanSummary> {
        let store = self.store()?;
        let plan = ops::add(&store, &input)?;
        let summary = ops::show(&store, &plan.name)?;
        drop(store);
        self.plans_changed();
        Ok(summary)
    }

    pub fn edit_plan(&self, name: &str, input: PlanInput) -> Result<PlanSummary> {
        let store = self.store()?;
        let plan = ops::edit(&store, name, &input)?;
        let summary = ops::show(&store, &plan.name)?;
        drop(store);
        self.plans_changed();
        Ok(summary)
    }

    /// Its runs stay in the history.
    pub fn remove_plan(&self, name: &str) -> Result<()> {
        ops::remove(&mut *self.store()?, name)?;
        self.plans_changed();
        Ok(())
    }

    /// Runs the plan now (refused while a run of it is queued or running).
    pub async fn run_plan(&self, name: &str) -> Result<JobSummary> {
        let id = self.scheduler().run_now(name).await?;
        Ok(self.started_summary(&id))
    }

    /// Every plan that is not running already, now; paused ones too (the user asked).
    pub async fn run_all_plans(&self) -> Result<Vec<JobSummary>> {
        let mut started = Vec::new();
        for plan in self.list_plans()? {
            match self.scheduler().run_now(&plan.plan.name).await {
                Ok(id) => started.push(self.started_summary(&id)),
                // A run of it is queued or running: that run is the one asked for.
                Err(PlanError::Busy { .. }) => {}
                Err(e) => return Err(e.into()),
            }
        }
        Ok(started)
    }

    pub fn pause_plan(&self, name: &str, for_secs: Option<u64>) -> Result<PlanSummary> {
        let store = self.store()?;
        ops::pause(&store, name, for_secs.map(std::time::Duration::from_secs))?;
        let summary = ops::show(&store, name)?;
        drop(store);
        self.plans_changed();
        Ok(summary)
    }

    pub fn resume_plan(&self, name: &str) -> Result<PlanSummary> {
        let store = self.store()?;
        ops::resume(&store, name)?;
        let summary = ops::show(&store, name)?;
        drop(store);
        self.plans_changed();
        Ok(summary)
    }

    /// A plan's runs, newest first.
    pub fn plan_runs(&self, name: &str) -> Result<Vec<PlanRun>> {
        Ok(ops::runs(&*self.store()?, name)?)
    }

    /// A plan's runs as a file's contents; the shell asks where to save it.
    pub fn export_plan_runs(&self, name: &str, format: ExportFormat) -> Result<String> {
        let store = self.store()?;
        Ok(match format {
            ExportFormat::Csv => ops::export_runs_csv(&store, name)?,
            ExportFormat::Json => ops::export_runs_json(&store, name)?,
        })
    }

    /// Tells the scheduler to look again, and the windows and the tray what plans are now.
    pub(crate) fn plans_changed(&self) {
        self.scheduler().reload();
        match self.list_plans() {
            Ok(plans) => self.inner.hooks.plans_changed(&plans),
            Err(e) => tracing::warn!("plans: {e}"),
        }
    }

    fn started_summary(&self, id: &str) -> JobSummary {
        self.active_summary(id)
            .unwrap_or_else(|| self.placeholder(id))
    }
}

#[cfg(test)]
mod tests {
    use crate::notify::limit_text;

    #[test]
    fn limits_read_as_people_say_them() {
        assert_eq!(limit_text(3 * 86_400), "3 days");
        assert_eq!(limit_text(86_400), "1 day");
        assert_eq!(limit_text(6 * 3600), "6 hours");
        assert_eq!(limit_text(90 * 60), "90 minutes");
        assert_eq!(limit_text(1), "1 second");
    }
}
