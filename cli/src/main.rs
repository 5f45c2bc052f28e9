//! `baton`: the user and operator command line.

mod args;
mod batch;
mod bench;
mod blob_sweep;
mod blobs;
mod client;
mod cluster;
mod commands;
mod compare;
mod demo;
mod embedded;
mod pools;
mod recover;
mod registry;
mod render;
mod specs;
mod traces;
mod version;

use std::path::PathBuf;
use std::time::Duration;

use clap::CommandFactory;

use crate::args::{BlobCommand, Cli, Command};

use crate::client::{CliError, Client};

/// `baton man DIR`: a page for baton and one per command, from the same
/// clap command `--help` shows.
fn man_pages(dir: &std::path::Path) -> Result<(), CliError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| CliError::BadInput(format!("cannot create {}: {e}", dir.display())))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .map_err(|e| CliError::BadInput(format!("cannot write into {}: {e}", dir.display())))?;
    let mut pages: Vec<String> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .map(|e| e.path().display().to_string())
                .filter(|p| p.ends_with(".1"))
                .collect()
        })
        .unwrap_or_default();
    pages.sort();
    for page in pages {
        println!("{page}");
    }
    Ok(())
}

/// The client's configuration file: --config, else BATON_CONFIG, else
/// `$XDG_CONFIG_HOME/baton/config.toml` (`~/.config/...`) when it exists.
fn client_config(argv: &[std::ffi::OsString]) -> Option<PathBuf> {
    if let Some(path) = baton_config::config_path(argv, "BATON_CONFIG") {
        return Some(path);
    }
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")))?;
    Some(base.join("baton/config.toml")).filter(|p| p.exists())
}

fn main() {
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let path = client_config(&argv);
    let (argv, from_file) = baton_config::command_line(&Cli::command(), argv, path);
    let matches = baton_config::get_matches(Cli::command(), argv, &from_file);
    let cli = match <Cli as clap::FromArgMatches>::from_arg_matches(&matches) {
        Ok(cli) => cli,
        Err(e) => e.exit(),
    };
    let embedded = matches!(cli.command, Command::Dev { .. } | Command::Demo { .. });
    let default_filter = if embedded {
        "warn,baton_scheduler=info"
    } else {
        "warn"
    };
    let default_filter = if matches!(cli.command, Command::Demo { .. }) {
        "warn"
    } else {
        default_filter
    };
    // `baton dev` embeds a scheduler: the same allocator setting as
    // baton-scheduler (see memory::limit_arenas), before threads start.
    baton_scheduler::memory::limit_arenas();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            std::process::exit(2);
        }
    };
    // Only a launch makes a span: other commands never wait on a collector.
    let traces = match cli.command {
        Command::Run { .. } => traces::exporter(),
        _ => None,
    };
    let telemetry = match runtime.block_on(async { baton_telemetry::init(default_filter, traces) })
    {
        Ok(telemetry) => telemetry,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(2);
        }
    };
    let result = runtime.block_on(run(cli));
    // A collector that does not answer delays the exit by a second at most.
    telemetry.shutdown_within(Duration::from_secs(1));
    if let Err(e) = result {
        eprintln!("error: {e}");
        std::process::exit(e.exit_code());
    }
}

async fn run(cli: Cli) -> Result<(), CliError> {
    let output = cli.output;
    match cli.command {
        Command::Dev {
            listen,
            data_dir,
            workers,
            pool,
            lease,
            examples,
        } => {
            let options = embedded::EmbeddedOptions {
                listen,
                data_dir,
                workers,
                lease,
                pool,
                more_pools: Vec::new(),
            };
            embedded::dev(options, examples.is_dir().then_some(examples)).await
        }
        Command::Demo { workers } => demo::demo(workers, output).await,
        Command::Register { files } => {
            let request = specs::read_specs(&files)?;
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            specs::register(&mut client, request, false).await
        }
        Command::Run {
            workflow,
            inputs,
            pool,
            wait,
            plan,
            no_cache,
            overwrite_cache,
            blobs,
        } => {
            commands::parse_inputs(&inputs)?;
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            let cache = match (no_cache, overwrite_cache) {
                (true, _) => baton_proto::CacheMode::CacheSkip,
                (_, true) => baton_proto::CacheMode::CacheOverwrite,
                _ => baton_proto::CacheMode::CacheUse,
            };
            let options = commands::RunOptions {
                cache,
                pool,
                wait,
                plan,
                blobs,
            };
            commands::run(&mut client, &workflow, &inputs, options, output).await
        }
        Command::Versions { id, kind } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            registry::versions(&mut client, &id, kind, output).await
        }
        Command::Describe { id, kind } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            registry::describe(&mut client, &id, kind, output).await
        }
        Command::Diff { old, new, kind } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            registry::diff(&mut client, &old, &new, kind, output).await
        }
        Command::Blob(BlobCommand::Sweep {
            older_than,
            dry_run,
            blobs,
        }) => {
            // What the state refers to is read from the leader, never stale.
            let mut client = Client::connect(&cli.scheduler, false, cli.wait_leader).await?;
            blob_sweep::sweep(&mut client, &blobs, older_than, dry_run, output).await
        }
        Command::Blob(BlobCommand::Put { file, blobs }) => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            blobs::put(&mut client, &blobs, &file).await
        }
        Command::Blob(BlobCommand::Get {
            uri,
            path,
            mut blobs,
        }) => {
            // An s3 uri is read at the endpoint the scheduler advertises,
            // unless one is given; a scheduler that cannot be reached is no error.
            if uri.starts_with("s3://") && blobs.s3.endpoint.is_none() {
                if let Ok(mut client) =
                    Client::connect(&cli.scheduler, true, Duration::from_secs(1)).await
                {
                    if let Ok(status) = client
                        .call(
                            baton_proto::ClusterStatusRequest {},
                            |mut a, r| async move { a.cluster_status(r).await },
                        )
                        .await
                    {
                        let advertised = status.blob_store.unwrap_or_default();
                        blobs.s3 = blobs
                            .s3
                            .or_advertised(&advertised.s3_endpoint, &advertised.s3_region);
                    }
                }
            }
            blobs::get(&blobs, &uri, &path).await
        }
        Command::RunBatch { file } => {
            let batch = batch::read_batch(&file)?;
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            batch::run_batch(&mut client, batch, output).await
        }
        Command::Get { execution, depth } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            commands::get(&mut client, &execution, depth, output).await
        }
        Command::Compare { executions } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            compare::compare(&mut client, &executions, output).await
        }
        Command::Watch { execution } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            commands::watch(&mut client, &execution, output).await
        }
        Command::List { kind, limit, watch } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            loop {
                commands::list(&mut client, kind, limit, output).await?;
                if !watch.next(output).await {
                    break Ok(());
                }
            }
        }
        Command::Recover { execution, wait } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            recover::recover(&mut client, &execution, false, wait, output).await
        }
        Command::Relaunch { execution, wait } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            recover::recover(&mut client, &execution, true, wait, output).await
        }
        Command::Cancel { execution } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            commands::cancel(&mut client, &execution).await
        }
        Command::Version => {
            version::version(&cli.scheduler, cli.stale, cli.wait_leader, output).await
        }
        Command::Man { dir } => man_pages(&dir),
        Command::Completions { shell } => {
            // Into memory first: clap_complete panics on a write error,
            // and `baton completions bash | head` closes the pipe early.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "baton", &mut script);
            let _ = std::io::Write::write_all(&mut std::io::stdout(), &script);
            Ok(())
        }
        Command::Signal {
            execution,
            node,
            inputs,
            blobs,
        } => {
            commands::check_signal_fields(&inputs)?;
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            commands::signal(&mut client, &execution, &node, &inputs, &blobs).await
        }
        Command::Bench {
            workload,
            runner,
            nodes,
            runs,
            workers,
            scale_nodes,
            concurrent_executions,
            launch_batch_size,
            process_threads,
            loop_iterations,
            map_items,
            log_tasks,
            prefetch,
            al_flavors,
            al_iterations,
            al_python,
            minutes,
            soak_retention,
        } => {
            if loop_iterations == 0 || loop_iterations > 100_000 || map_items == 0 {
                return Err(CliError::BadInput(
                    "--loop-iterations must be from 1 to 100,000 (a loop's limit), --map-items at least 1".into(),
                ));
            }
            if nodes == 0
                || runs == 0
                || workers == 0
                || scale_nodes == 0
                || concurrent_executions == 0
                || launch_batch_size == 0
                || log_tasks == 0
            {
                return Err(CliError::BadInput(
                    "--nodes, --runs, --workers, --scale-nodes, --concurrent-executions, --launch-batch-size and --log-tasks must be at least 1".into(),
                ));
            }
            if launch_batch_size > baton_scheduler::admin::MAX_BATCH_LAUNCHES {
                return Err(CliError::BadInput(format!(
                    "--launch-batch-size is {launch_batch_size}; the scheduler takes at most {} launches per batch",
                    baton_scheduler::admin::MAX_BATCH_LAUNCHES
                )));
            }
            let options = bench::BenchOptions {
                workload,
                runner,
                nodes,
                runs,
                workers,
                w1_tasks: 10_000,
                w2_length: 300,
                w3_launches: 200,
                scale_nodes,
                concurrent_executions,
                launch_batch_size,
                process_threads,
                loop_iterations,
                map_items,
                log_tasks,
                prefetch,
                al_flavors: al_flavors as usize,
                al_iterations,
                al_python: al_python as usize,
                soak_minutes: minutes,
                soak_retention,
            };
            bench::run(options, output).await
        }
        Command::Cluster(command) => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            cluster::run(&mut client, command, output).await
        }
        Command::Pools { events, watch } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            loop {
                pools::pools(&mut client, output, events).await?;
                if !watch.next(output).await {
                    break Ok(());
                }
            }
        }
        Command::Executors { watch } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            loop {
                pools::executors(&mut client, output).await?;
                if !watch.next(output).await {
                    break Ok(());
                }
            }
        }
        Command::Pool(command) => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            pools::pool(&mut client, command).await
        }
        Command::Executor(command) => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            pools::executor(&mut client, command, output).await
        }
        Command::Project(command) => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            pools::project(&mut client, command).await
        }
        Command::Logs {
            execution,
            node,
            attempt,
            follow,
        } => {
            let mut client = Client::connect(&cli.scheduler, cli.stale, cli.wait_leader).await?;
            commands::logs(&mut client, &execution, &node, attempt, follow, output).await
        }
    }
}
