//! `sluice serve`: the durable engine, its worker loop and the HTTP API, until SIGINT/SIGTERM.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sluice_secrets::SecretKey;
use sluice_slack_app::{SlackIntegrations, SlackNotifier};
use sluice_store::{Store, StoreOptions};
use sluice_worker::{DeployError, Engine, EngineOptions, LoopOptions, loops};
use tokio::sync::watch;

use crate::api::{self, AppState};
use crate::config::ServeArgs;
use crate::connectors;
use crate::shaped_errors;

/// Two runtimes: the engine's (steps, connector calls, the worker loop) and the one that answers
/// HTTP. A heavy step holds an engine thread, never one that answers `/healthz` or reads a
/// Request; HTTP handlers hand engine calls over (`AppState::on_engine`).
pub fn run(args: ServeArgs) -> anyhow::Result<ExitCode> {
    let cores = std::thread::available_parallelism().map_or(2, usize::from);
    let engine = tokio::runtime::Builder::new_multi_thread()
        .thread_name("sluice-engine")
        .worker_threads((2 * cores).max(4))
        .enable_all()
        .build()
        .context("cannot start the engine's runtime")?;
    let http = tokio::runtime::Builder::new_multi_thread()
        .thread_name("sluice-http")
        .worker_threads(cores.max(2))
        .enable_all()
        .build()
        .context("cannot start the HTTP runtime")?;
    let code = http.block_on(serve(args, engine.handle().clone()));
    engine.shutdown_timeout(Duration::from_secs(10));
    code
}

async fn serve(args: ServeArgs, engine_runtime: tokio::runtime::Handle) -> anyhow::Result<ExitCode> {
    args.limits.apply();
    let options = StoreOptions { durability: args.durability.into(), ..StoreOptions::default() };
    let store = Store::open(args.database_url.expose(), options).await?;
    let slack = slack_integrations(&store, &args).await?;
    // The same key again (the Slack integrations keep theirs): connector secrets are sealed with it.
    let secret_key = SecretKey::load(args.secret_key.as_ref().map(|k| k.expose()), args.database_url.expose(), false)?;
    let registry = connectors::registry_with(&args.connectors, slack.clone())?;
    let connectors = registry.list();
    let engine_options = EngineOptions {
        public_url: args.public_url(),
        request_lease: args.request_lease(),
        max_job_crashes: args.max_job_crashes,
        job_types: args.job_types.job_types(),
        ..EngineOptions::default()
    };
    let notifier = Arc::new(
        SlackNotifier::with_integrations(
            store.clone(),
            &args.connectors.slack.slack_api_url,
            slack.clone(),
            args.slack_app.slack_signing_secret.as_ref().map(|s| s.expose()),
        )
        .context("cannot set up Slack notifications")?,
    );
    // Generates the key of Slack buttons, or seals one an earlier version stored in plain text.
    if let Err(e) = notifier.button_key().await {
        anyhow::bail!("cannot read the Slack button key: {e}");
    }
    // The engine's own tasks (its writer on PostgreSQL) start on its runtime.
    let engine = engine_runtime
        .spawn({
            let (store, notifier) = (store.clone(), notifier.clone());
            async move {
                Engine::new(store, registry, engine_options)
                    .await
                    .map(|e| e.with_notifications(notifier).with_secret_key(secret_key))
            }
        })
        .await
        .context("the engine did not start")??;
    let engine = Arc::new(engine);
    // Connector jobs run on the node that wrote them, right after the commit.
    engine.enable_handoff();

    if let Some(dir) = &args.processes
        && !deploy_folder(&engine, dir).await?
    {
        return Ok(ExitCode::FAILURE);
    }
    let fields: Vec<String> =
        args.search_fields.iter().map(|f| f.trim().to_string()).filter(|f| !f.is_empty()).collect();
    for created in store.ensure_search_indexes(&fields).await.context("cannot index the search fields")? {
        tracing::info!(path = %created, "indexed a data path for searching Requests");
    }
    // Before the worker steps anything: incidents opened before they were kept as rows.
    match engine.index_open_incidents().await {
        Ok(0) => {}
        Ok(n) => tracing::info!(requests = n, "indexed the open incidents of Requests from an older schema"),
        Err(e) => tracing::warn!(
            error = %e,
            "could not index older open incidents (GET /api/v1/incidents may miss some); trying again at the next start"
        ),
    }
    let configured_tokens = api_tokens(&store, &args).await?;

    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let addr = listener.local_addr().unwrap_or(args.listen);
    tracing::info!(%addr, "sluice is serving the API");

    // The engine says when a write left jobs due now for the worker (handed-off ones excepted).
    let wake = engine.wakeup();
    let (stop_tx, stop_rx) = watch::channel(false);
    let heartbeat = engine_runtime.spawn(loops::heartbeat_loop(engine.clone(), stop_rx.clone()));
    let pace = Duration::from_millis(args.operation_pace_ms);
    let operations = engine_runtime.spawn(sluice_worker::operations_loop(
        engine.clone(),
        Duration::from_millis(500),
        pace,
        stop_rx.clone(),
    ));
    let worker =
        engine_runtime.spawn(loops::worker_loop(engine.clone(), wake.clone(), LoopOptions::default(), stop_rx.clone()));
    let days = |d: u32| (d > 0).then(|| chrono::Duration::days(i64::from(d)));
    let (retention, audit_retention) = (days(args.history_retention_days), days(args.audit_retention_days));
    if retention.is_some() || audit_retention.is_some() {
        let prune = loops::prune_loop(store.clone(), retention, audit_retention, LoopOptions::default(), stop_rx);
        engine_runtime.spawn(prune);
    }

    let secure_cookies = args.public_url().starts_with("https://");
    let state = AppState::new(engine.clone(), connectors, configured_tokens)
        .with_secure_cookies(secure_cookies)
        .with_public_url(args.public_url())
        .with_slack(slack)
        .with_notifier(notifier)
        .with_engine_runtime(engine_runtime)
        .with_request_timeout(Duration::from_secs(args.request_timeout_secs));
    let header_timeout = Duration::from_secs(args.header_timeout_secs);
    let served = serve_http(listener, api::app(state), header_timeout, shutdown_signal()).await;
    // In-flight HTTP requests are done; let the worker finish its batch (its jobs commit or stay
    // due for the next start), then close the database.
    let _ = stop_tx.send(true);
    if let Err(e) = worker.await {
        tracing::error!(error = %e, "the worker loop panicked");
    }
    let _ = heartbeat.await;
    // A running operation stops where it is: its cursor says where the next start goes on, and
    // its claim is given up so that the next start (or another node) goes on at once.
    operations.abort();
    let _ = operations.await;
    if let Err(e) = engine.release_operations().await {
        tracing::warn!(error = %e, "cannot give up the claims on running operations; they run out by themselves");
    }
    store.close().await;
    served.context("the HTTP server failed")?;
    tracing::info!("sluice stopped");
    Ok(ExitCode::SUCCESS)
}

/// Serves `app` on `listener` over HTTP/1.1 until `shutdown`, then stops accepting and waits for the
/// connections in flight to finish their requests. A client that has not sent a request's headers
/// within `header_timeout` (from connecting, or from the end of its previous request) is cut off,
/// so slow clients cannot hold connections open; reading the body and handling the request are
/// bounded by the API's request timeout. Request line and headers are limited to
/// [`shaped_errors::HEADER_LIMIT`] bytes and [`shaped_errors::MAX_HEADERS`] fields (431); the
/// answers hyper writes itself carry the uniform error body too.
async fn serve_http(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    header_timeout: Duration,
    shutdown: impl std::future::Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioIo, TokioTimer};
    use hyper_util::service::TowerToHyperService;

    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(header_timeout)
        .max_header_size(shaped_errors::HEADER_LIMIT)
        .max_headers(shaped_errors::MAX_HEADERS);
    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => (stream, peer),
                Err(e) => {
                    // Out of file descriptors and the like: wait a moment rather than spin.
                    tracing::warn!(error = %e, "cannot accept a connection");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        // hyper's own answers (400, 414, 431 before the router sees a request) get the error body.
        let exchanges = Arc::new(shaped_errors::Exchanges::default());
        let service = shaped_errors::Counted::new(TowerToHyperService::new(app.clone()), exchanges.clone(), Some(peer));
        let stream = shaped_errors::Shaped::new(stream, exchanges);
        let conn = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "a connection ended with an error");
            }
        });
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// The Slack integrations over the store, with the secret key (checked against the database), the
/// `SLACK_*` app settings stored and `SLACK_BOT_TOKEN` registered as `default`.
async fn slack_integrations(store: &Store, args: &ServeArgs) -> anyhow::Result<SlackIntegrations> {
    // A new key file may only be made for a database that holds no secrets yet.
    let fresh = store.setting(sluice_secrets::CHECK_SETTING).await?.is_none();
    let key = SecretKey::load(args.secret_key.as_ref().map(|k| k.expose()), args.database_url.expose(), fresh)?;
    let options = args.slack_app.options(args.public_url());
    let slack = SlackIntegrations::new(store.clone(), key, &args.connectors.slack.slack_api_url, options).await?;
    slack.apply_startup_settings(&args.slack_app.settings()).await.context("cannot store the SLACK_* app settings")?;
    if let Some(token) = &args.connectors.slack.slack_bot_token {
        slack.register_startup_token(token).await;
    }
    Ok(slack)
}

/// Deploys every `*.bpmn` of the folder together; false (diagnostics printed) when any is invalid.
async fn deploy_folder(engine: &Engine, dir: &Path) -> anyhow::Result<bool> {
    let mut paths = Vec::new();
    for entry in std::fs::read_dir(dir).with_context(|| format!("cannot read SLUICE_PROCESSES {}", dir.display()))? {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "bpmn" || e == "dmn") {
            paths.push(path);
        }
    }
    paths.sort();
    let mut files = Vec::new();
    for p in &paths {
        let bytes = std::fs::read(p).with_context(|| format!("cannot read {}", p.display()))?;
        files.push((p.display().to_string(), bytes));
    }
    if files.is_empty() {
        tracing::warn!(dir = %dir.display(), "no *.bpmn or *.dmn files to deploy");
        return Ok(true);
    }
    match engine.deploy(&files).await {
        Ok(deployed) => {
            for d in deployed {
                let kind = if d.kind == sluice_worker::DeployedKind::Process { "process" } else { "decision" };
                tracing::info!(kind, key = %d.key, version = d.version, new = d.created, "deployed");
            }
            Ok(true)
        }
        Err(DeployError::Invalid(diagnostics)) => {
            for d in &diagnostics {
                eprintln!("{d}");
            }
            eprintln!("sluice: the models in {} have errors; not starting", dir.display());
            Ok(false)
        }
        Err(e) => Err(e.into()),
    }
}

/// The built-in `admin`'s token: the hash of the configured one (`SLUICE_API_TOKEN`, never stored),
/// else none, and then the startup token stored at first start is accepted; when there is none, a
/// new random token is stored by its hash and printed once. The tokens users create through the
/// API are accepted either way.
async fn api_tokens(store: &Store, args: &ServeArgs) -> anyhow::Result<Vec<String>> {
    if let Some(token) = &args.api_token {
        anyhow::ensure!(!token.expose().trim().is_empty(), "SLUICE_API_TOKEN is empty");
        return Ok(vec![api::token_hash(token.expose().trim())]);
    }
    if store.has_startup_token().await? {
        return Ok(Vec::new());
    }
    let token = sluice_secrets::random_hex().context("cannot generate an API token")?;
    let hash = api::token_hash(&token);
    store.add_api_token("generated at first start", &hash).await?;
    eprintln!("API token (shown once): {token}");
    Ok(Vec::new())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(e) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %e, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(e) => {
                tracing::error!(error = %e, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
