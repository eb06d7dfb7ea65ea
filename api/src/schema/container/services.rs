//! `Container`'s services: the container run as one (`asService`), and
//! the ones its steps reach (`withServiceBinding`).

use async_graphql::{Context, Object, Result, ID};

use super::super::lookup;
use super::super::service::ServiceObj;
use super::args::{refuse_expand, refuse_nesting};
use super::ContainerObj;

pub(crate) struct ContainerServices(pub(super) engine::Container);

#[Object]
impl ContainerServices {
    /// This container's command (`args`, else its default args) as a
    /// service; expose its ports first, they tell when it is up.
    #[allow(clippy::too_many_arguments)]
    async fn as_service(
        &self,
        #[graphql(default)] args: Vec<String>,
        #[graphql(default = false)] use_entrypoint: bool,
        #[graphql(default = false)] experimental_privileged_nesting: bool,
        #[graphql(default = false)] insecure_root_capabilities: bool,
        #[graphql(default = false)] expand: bool,
        #[graphql(default = false)] no_init: bool,
    ) -> Result<ServiceObj> {
        refuse_nesting(
            "asService",
            experimental_privileged_nesting,
            insecure_root_capabilities,
        )?;
        refuse_expand("asService", expand)?;
        // tanto's steps never get an init process: nothing to leave out.
        let _ = no_init;
        Ok(ServiceObj(self.0.as_service(&args, use_entrypoint)))
    }

    /// Its next steps reach `service` as `alias`, and start it when they
    /// run.
    async fn with_service_binding(
        &self,
        ctx: &Context<'_>,
        alias: String,
        service: ID,
    ) -> Result<ContainerObj> {
        let service = lookup!(ctx, service, Service, "Service")?;
        Ok(ContainerObj::new(
            self.0.with_service_binding(&alias, &service),
        ))
    }
}
