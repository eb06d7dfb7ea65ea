//! A container as a service (`asService`), and the services its steps
//! reach (`withServiceBinding`).

use std::sync::Arc;

use crate::node::{ServiceBinding, ServiceProcess, ServiceSpec};
use crate::values::{command_line, Service};

use super::{Container, ExecOptions};

impl Container {
    /// This container's command as a service: `args`, or its default args
    /// when there are none; with `use_entrypoint`, after its entrypoint.
    /// Expose its ports (`with_exposed_port`) first: they are how it is
    /// known to be up.
    pub fn as_service(&self, args: &[String], use_entrypoint: bool) -> Service {
        let run = self.with_exec_opts(
            args.to_vec(),
            ExecOptions {
                use_entrypoint,
                name: Some(match args {
                    [] => "asService".to_owned(),
                    args => format!("asService {}", command_line::step_name(args)),
                }),
                ..Default::default()
            },
        );
        Service {
            ctx: Arc::clone(&self.ctx),
            spec: Arc::new(ServiceSpec {
                process: ServiceProcess::Exec(run.last_exec.expect("withExec sets the last exec")),
                hostname: None,
            }),
        }
    }

    /// Its next steps reach `service` as `alias` (and by its hostname);
    /// a step that runs starts it first. Binding an alias again replaces
    /// the service it names.
    pub fn with_service_binding(&self, alias: &str, service: &Service) -> Container {
        let mut next = self.clone();
        next.services.retain(|binding| binding.alias != alias);
        next.services.push(ServiceBinding {
            alias: alias.to_owned(),
            service: Arc::clone(&service.spec),
        });
        next
    }
}
