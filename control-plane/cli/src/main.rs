//! `glitch`: `glitch up` runs the control plane and a fleet-mode sensor on one machine with
//! embedded defaults, creates a demo project and key, and prints the Claude Code environment
//! lines; the other sub-commands call the control-plane REST API. Logic lives in the modules;
//! this file parses flags and reports failures.

mod api;
mod demo;
mod fleet;
mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};
use http::Method;
use serde_json::{Value, json};

use crate::api::Api;

/// glitch: run the whole stack locally, or administer a control plane.
#[derive(Parser)]
#[command(name = "glitch", version, about, long_about = None)]
struct Cli {
    /// Control-plane REST URL for the admin sub-commands.
    #[arg(
        long,
        env = "GLITCH_CP_URL",
        default_value = "http://127.0.0.1:8081",
        global = true
    )]
    api: String,

    /// PEM CA certificate to trust for an https:// control plane.
    #[arg(long, env = "GLITCH_CP_CA_FILE", global = true)]
    ca_file: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Start the control plane and a sensor on this machine (Ctrl-C stops both).
    Up(up::UpArgs),
    /// Start a two-region fleet on this machine: two control-plane replicas on PostgreSQL,
    /// sensors in regions eu and us (one per replica), Kafka (tansu) and the audit consumer.
    Fleet(fleet::FleetArgs),
    /// Projects.
    #[command(subcommand)]
    Projects(ProjectsCmd),
    /// Glitch keys.
    #[command(subcommand)]
    Keys(KeysCmd),
    /// Policies.
    #[command(subcommand)]
    Policies(PoliciesCmd),
    /// Connected sensors and their rollout state.
    Sensors,
    /// The current config version.
    ConfigVersion,
}

#[derive(Subcommand)]
enum ProjectsCmd {
    /// List projects.
    List,
    /// Show one project.
    Get { id: String },
    /// Create a project.
    Create {
        name: String,
        /// Policy id or template id [default: balanced].
        #[arg(long)]
        policy: Option<String>,
    },
    /// Rename a project or change its policy.
    Update {
        id: String,
        #[arg(long)]
        name: Option<String>,
        #[arg(long)]
        policy: Option<String>,
    },
    /// Delete a project.
    Delete { id: String },
}

#[derive(Subcommand)]
enum KeysCmd {
    /// List a project's keys (never their secrets).
    List { project: String },
    /// Mint a key; its secret is printed once.
    Create { project: String, name: String },
    /// Revoke a key (fleet-wide, immediately).
    Revoke { id: String },
}

#[derive(Subcommand)]
enum PoliciesCmd {
    /// List policies.
    List,
    /// Show one policy.
    Get { id: String },
    /// Create a policy from a JSON file (the contract's policy object).
    Create { file: PathBuf },
    /// Replace a policy with the JSON file's content.
    Update { id: String, file: PathBuf },
    /// Delete a policy no project uses.
    Delete { id: String },
    /// A policy's stored versions, newest first.
    History { id: String },
    /// The built-in templates.
    Templates,
}

#[derive(Debug, thiserror::Error)]
enum CliError {
    #[error("{0}")]
    Api(#[from] api::ApiError),
    #[error("cannot read {path}: {detail}")]
    File { path: PathBuf, detail: String },
    #[error("{0}")]
    Up(#[from] up::UpError),
    #[error("{0}")]
    Fleet(#[from] fleet::FleetError),
    #[error("GLITCH_ADMIN_TOKEN is not set (the control plane's admin token)")]
    NoToken,
}

fn read_json(path: &PathBuf) -> Result<Value, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::File {
        path: path.clone(),
        detail: e.to_string(),
    })?;
    serde_json::from_str(&text).map_err(|e| CliError::File {
        path: path.clone(),
        detail: e.to_string(),
    })
}

async fn admin(cli: &Cli) -> Result<Value, CliError> {
    let token = std::env::var("GLITCH_ADMIN_TOKEN").map_err(|_| CliError::NoToken)?;
    let api = Api::new(&cli.api, &token, cli.ca_file.clone())?;
    let api = &api;
    let get = |path: String| async move { api.call(Method::GET, &path, None).await };
    Ok(match &cli.command {
        Command::Up(_) | Command::Fleet(_) => Value::Null,
        Command::Projects(ProjectsCmd::List) => get("/v1/projects".into()).await?,
        Command::Projects(ProjectsCmd::Get { id }) => get(format!("/v1/projects/{id}")).await?,
        Command::Projects(ProjectsCmd::Create { name, policy }) => {
            let mut body = json!({ "name": name });
            if let Some(p) = policy {
                body["policy_id"] = json!(p);
            }
            api.call(Method::POST, "/v1/projects", Some(&body)).await?
        }
        Command::Projects(ProjectsCmd::Update { id, name, policy }) => {
            let mut body = json!({});
            if let Some(n) = name {
                body["name"] = json!(n);
            }
            if let Some(p) = policy {
                body["policy_id"] = json!(p);
            }
            api.call(Method::PATCH, &format!("/v1/projects/{id}"), Some(&body))
                .await?
        }
        Command::Projects(ProjectsCmd::Delete { id }) => {
            api.call(Method::DELETE, &format!("/v1/projects/{id}"), None)
                .await?
        }
        Command::Keys(KeysCmd::List { project }) => {
            get(format!("/v1/projects/{project}/keys")).await?
        }
        Command::Keys(KeysCmd::Create { project, name }) => {
            api.call(
                Method::POST,
                &format!("/v1/projects/{project}/keys"),
                Some(&json!({ "name": name })),
            )
            .await?
        }
        Command::Keys(KeysCmd::Revoke { id }) => {
            api.call(Method::DELETE, &format!("/v1/keys/{id}"), None)
                .await?
        }
        Command::Policies(PoliciesCmd::List) => get("/v1/policies/".into()).await?,
        Command::Policies(PoliciesCmd::Get { id }) => get(format!("/v1/policies/{id}")).await?,
        Command::Policies(PoliciesCmd::Create { file }) => {
            api.call(Method::POST, "/v1/policies/", Some(&read_json(file)?))
                .await?
        }
        Command::Policies(PoliciesCmd::Update { id, file }) => {
            api.call(
                Method::PUT,
                &format!("/v1/policies/{id}"),
                Some(&read_json(file)?),
            )
            .await?
        }
        Command::Policies(PoliciesCmd::Delete { id }) => {
            api.call(Method::DELETE, &format!("/v1/policies/{id}"), None)
                .await?
        }
        Command::Policies(PoliciesCmd::History { id }) => {
            get(format!("/v1/policies/{id}/versions")).await?
        }
        Command::Policies(PoliciesCmd::Templates) => get("/v1/policy-templates".into()).await?,
        Command::Sensors => get("/v1/sensors".into()).await?,
        Command::ConfigVersion => get("/v1/config/version".into()).await?,
    })
}

#[allow(
    clippy::print_stdout,
    clippy::print_stderr,
    reason = "a CLI prints its results and errors"
)]
fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("glitch: cannot start the async runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match &cli.command {
            Command::Up(args) => up::run(args.clone())
                .await
                .map(|()| Value::Null)
                .map_err(CliError::from),
            Command::Fleet(args) => fleet::run(args.clone())
                .await
                .map(|()| Value::Null)
                .map_err(CliError::from),
            _ => admin(&cli).await,
        }
    });
    match result {
        Ok(Value::Null) => std::process::ExitCode::SUCCESS,
        Ok(value) => {
            println!(
                "{}",
                serde_json::to_string_pretty(&value).unwrap_or_default()
            );
            std::process::ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("glitch: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
