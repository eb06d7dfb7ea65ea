//! Dagger's core schema (priority 1 of dagger-compat.md) over engine values.
//! Names, argument names and defaults are Dagger's: the SDKs build their
//! queries from this schema's introspection and omit default arguments.

mod address;
mod changeset;
mod container;
mod container_info;
mod docker_build;
mod duration;
mod engine_cache;
mod env_file;
mod files;
mod host;
mod json_value;
mod search;
mod service;
mod stat;

use std::sync::Arc;

use async_graphql::{Context, Enum, Interface, Object, Result, ID};

pub(crate) use container::ContainerObj;
use engine_cache::{EngineCacheEntryObj, EngineCacheObj, EngineObj};
pub(crate) use env_file::EnvFileData;
pub(crate) use files::{CacheVolumeObj, DirectoryObj, EnvVariableObj, FileObj, SecretObj};
pub(crate) use host::{HostObj, SocketObj};

use crate::ids::Object as Value;
use crate::module;
use crate::scalars::*;
use crate::State;

pub(crate) fn state<'c>(ctx: &Context<'c>) -> &'c Arc<State> {
    ctx.data_unchecked::<Arc<State>>()
}

/// Looks up an ID argument, insisting on its type.
macro_rules! lookup {
    ($ctx:expr, $id:expr, $variant:ident, $name:literal) => {
        match $crate::schema::state($ctx).ids.get(&$id)? {
            $crate::ids::Object::$variant(value) => Ok::<_, async_graphql::Error>(value),
            other => Err($crate::Error::WrongIdType {
                id: $id.to_string(),
                expected: $name,
                actual: other.type_name(),
            }
            .into()),
        }
    };
}
pub(crate) use lookup;

/// A `JSONValue` ID argument, insisting on its type.
pub(crate) fn lookup_json(ctx: &Context<'_>, id: &ID) -> Result<json_value::JsonValueObj> {
    match state(ctx).ids.get(id)? {
        Value::JsonValue(text) => Ok(json_value::JsonValueObj(text)),
        other => Err(crate::Error::WrongIdType {
            id: id.to_string(),
            expected: "JSONValue",
            actual: other.type_name(),
        }
        .into()),
    }
}

pub(crate) struct Query;

#[Object(name = "Query")]
impl Query {
    /// The root's ID: `node(id:)` gives the root back.
    async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Query))
    }

    /// tanto's version.
    async fn version(&self) -> String {
        format!("tanto {}", env!("CARGO_PKG_VERSION"))
    }

    /// A new, empty container; `platform` (default: this machine's) picks
    /// its images from multi-platform indexes and the architecture its
    /// steps run as, through an emulator where it is not this machine's.
    async fn container(
        &self,
        ctx: &Context<'_>,
        platform: Option<Platform>,
    ) -> Result<ContainerObj> {
        let container = state(ctx).engine.container();
        Ok(ContainerObj::new(match platform {
            Some(Platform(platform)) => container.for_platform(
                platform
                    .parse()
                    .map_err(|e| async_graphql::Error::new(format!("container: {e}")))?,
            ),
            None => container,
        }))
    }

    /// A new, empty directory.
    async fn directory(&self, ctx: &Context<'_>) -> DirectoryObj {
        DirectoryObj(state(ctx).engine.directory())
    }

    /// A file with the given contents.
    async fn file(
        &self,
        ctx: &Context<'_>,
        name: String,
        contents: String,
        #[graphql(default = 420)] permissions: i32,
    ) -> FileObj {
        FileObj(state(ctx).engine.file(&name, contents, permissions as u32))
    }

    /// A changeset with no changes, to build on.
    async fn changeset(&self, ctx: &Context<'_>) -> changeset::ChangesetObj {
        changeset::ChangesetObj(state(ctx).engine.changeset())
    }

    /// The engine: tanto itself, and its local cache (the store).
    async fn engine(&self) -> EngineObj {
        EngineObj
    }

    /// The machine tanto runs on.
    async fn host(&self) -> HostObj {
        HostObj
    }

    async fn cache_volume(&self, ctx: &Context<'_>, key: String) -> CacheVolumeObj {
        CacheVolumeObj(state(ctx).engine.cache_volume(&key))
    }

    async fn set_secret(&self, ctx: &Context<'_>, name: String, plaintext: String) -> SecretObj {
        SecretObj(state(ctx).engine.set_secret(&name, plaintext))
    }

    /// A secret read now from `uri`: `env://NAME`, `file://PATH` or
    /// `cmd://COMMAND`, where tanto runs; keyed by `cacheKey` when given,
    /// else by its value. Masked in every step's output.
    async fn secret(
        &self,
        ctx: &Context<'_>,
        uri: String,
        cache_key: Option<String>,
    ) -> Result<SecretObj> {
        let secret = state(ctx).engine.secret(&uri, cache_key.as_deref()).await;
        Ok(SecretObj(secret.map_err(fail)?))
    }

    /// The platform steps run on: this machine's.
    async fn default_platform(&self) -> Platform {
        Platform(engine::Platform::host().to_string())
    }

    /// The file at `url`, downloaded by tanto and keyed by its content.
    #[allow(clippy::too_many_arguments)]
    async fn http(
        &self,
        ctx: &Context<'_>,
        url: String,
        name: Option<String>,
        permissions: Option<i32>,
        checksum: Option<String>,
        auth_header: Option<ID>,
        experimental_service_host: Option<ID>,
    ) -> Result<FileObj> {
        if experimental_service_host.is_some() {
            return Err(async_graphql::Error::new(
                "http: tanto does not run services yet, so experimentalServiceHost is not supported; download from a host tanto can reach",
            ));
        }
        let auth = match auth_header {
            Some(id) => Some(lookup!(ctx, id, Secret, "Secret")?),
            None => None,
        };
        Ok(FileObj(state(ctx).engine.http(
            &url,
            name.as_deref(),
            permissions.map(|p| p as u32),
            checksum.as_deref(),
            auth.as_ref(),
        )))
    }

    /// One string to load as a container, directory, file, secret or
    /// socket (see `address.rs`).
    async fn address(&self, value: String) -> Result<address::AddressObj> {
        address::AddressObj::new(value)
    }

    /// A JSON value: `null`, to build on (`withContents`, `withField`…).
    async fn json(&self) -> json_value::JsonValueObj {
        json_value::JsonValueObj("null".to_owned())
    }

    /// An empty env file, to build on (`withVariable`).
    async fn env_file(
        &self,
        #[graphql(deprecation = "Variables are expanded when read")] expand: Option<bool>,
    ) -> env_file::EnvFileObj {
        let _ = expand;
        env_file::EnvFileObj(EnvFileData::parse(""))
    }

    /// The object an ID names, as its own type.
    async fn node(&self, ctx: &Context<'_>, id: ID) -> Result<Option<Node>> {
        Ok(Some(match state(ctx).ids.get(&id)? {
            Value::Container(c) => Node::Container(Box::new(ContainerObj::new(c))),
            Value::Directory(d) => Node::Directory(DirectoryObj(d)),
            Value::Changeset(c) => Node::Changeset(changeset::ChangesetObj(c)),
            Value::DiffStat(stat) => Node::DiffStat(changeset::DiffStatObj(stat)),
            Value::File(f) => Node::File(FileObj(f)),
            Value::Secret(s) => Node::Secret(SecretObj(s)),
            Value::CacheVolume(c) => Node::CacheVolume(CacheVolumeObj(c)),
            Value::EnvVariable(name, value) => Node::EnvVariable(EnvVariableObj { name, value }),
            Value::Stat(s) => Node::Stat(stat::StatObj(s)),
            Value::SearchResult(r) => Node::SearchResult(search::SearchResultObj(r)),
            Value::SearchSubmatch(m) => Node::SearchSubmatch(search::SearchSubmatchObj(m)),
            Value::JsonValue(text) => Node::JsonValue(json_value::JsonValueObj(text)),
            Value::EnvFile(file) => Node::EnvFile(env_file::EnvFileObj(file)),
            Value::Socket(socket) => Node::Socket(SocketObj(socket)),
            Value::Service(service) => Node::Service(service::ServiceObj(service)),
            Value::Label(name, value) => Node::Label(container_info::LabelObj { name, value }),
            Value::Port(port) => Node::Port(container_info::PortObj(port)),
            Value::Healthcheck(check) => {
                Node::HealthcheckConfig(container_info::HealthcheckConfigObj(check))
            }
            Value::Address(value) => Node::Address(address::AddressObj(value)),
            Value::Query => Node::Query(Query),
            Value::Host => Node::Host(HostObj),
            Value::Engine => Node::Engine(EngineObj),
            Value::EngineCache => Node::EngineCache(EngineCacheObj),
            Value::EngineCacheEntrySet(key) => {
                let usage = state(ctx).engine.cache_usage().map_err(fail)?;
                return Ok(Some(Node::EngineCacheEntrySet(
                    engine_cache::EngineCacheEntrySetObj::of(key, usage.entries),
                )));
            }
            Value::EngineCacheEntry(entry) => Node::EngineCacheEntry(EngineCacheEntryObj(entry)),
            Value::ModuleValue(value) => module::query::node(value),
        }))
    }

    // Dagger's engine keeps `load<T>FromID(id: <T>ID!)` for clients before
    // v0.22, and the 0.21 SDKs generate them (Go's `LoadContainerFromID`,
    // Python's `load_container_from_id`): the same IDs, insisted on a type.

    #[graphql(name = "loadContainerFromID")]
    async fn load_container_from_id(
        &self,
        ctx: &Context<'_>,
        id: ContainerId,
    ) -> Result<ContainerObj> {
        let id = ID(id.0);
        lookup!(ctx, id, Container, "Container").map(ContainerObj::new)
    }

    #[graphql(name = "loadDirectoryFromID")]
    async fn load_directory_from_id(
        &self,
        ctx: &Context<'_>,
        id: DirectoryId,
    ) -> Result<DirectoryObj> {
        let id = ID(id.0);
        lookup!(ctx, id, Directory, "Directory").map(DirectoryObj)
    }

    #[graphql(name = "loadChangesetFromID")]
    async fn load_changeset_from_id(
        &self,
        ctx: &Context<'_>,
        id: ChangesetId,
    ) -> Result<changeset::ChangesetObj> {
        let id = ID(id.0);
        lookup!(ctx, id, Changeset, "Changeset").map(changeset::ChangesetObj)
    }

    #[graphql(name = "loadFileFromID")]
    async fn load_file_from_id(&self, ctx: &Context<'_>, id: FileId) -> Result<FileObj> {
        let id = ID(id.0);
        lookup!(ctx, id, File, "File").map(FileObj)
    }

    #[graphql(name = "loadSecretFromID")]
    async fn load_secret_from_id(&self, ctx: &Context<'_>, id: SecretId) -> Result<SecretObj> {
        let id = ID(id.0);
        lookup!(ctx, id, Secret, "Secret").map(SecretObj)
    }

    #[graphql(name = "loadServiceFromID")]
    async fn load_service_from_id(
        &self,
        ctx: &Context<'_>,
        id: ServiceId,
    ) -> Result<service::ServiceObj> {
        let id = ID(id.0);
        lookup!(ctx, id, Service, "Service").map(service::ServiceObj)
    }

    #[graphql(name = "loadCacheVolumeFromID")]
    async fn load_cache_volume_from_id(
        &self,
        ctx: &Context<'_>,
        id: CacheVolumeId,
    ) -> Result<CacheVolumeObj> {
        let id = ID(id.0);
        lookup!(ctx, id, CacheVolume, "CacheVolume").map(CacheVolumeObj)
    }

    #[graphql(name = "loadSocketFromID")]
    async fn load_socket_from_id(&self, ctx: &Context<'_>, id: SocketId) -> Result<SocketObj> {
        let id = ID(id.0);
        lookup!(ctx, id, Socket, "Socket").map(SocketObj)
    }

    #[graphql(name = "loadHostFromID")]
    async fn load_host_from_id(&self, ctx: &Context<'_>, id: HostId) -> Result<HostObj> {
        match state(ctx).ids.get(&id.0)? {
            Value::Host => Ok(HostObj),
            other => Err(crate::Error::WrongIdType {
                id: id.0,
                expected: "Host",
                actual: other.type_name(),
            }
            .into()),
        }
    }

    #[graphql(name = "loadAddressFromID")]
    async fn load_address_from_id(
        &self,
        ctx: &Context<'_>,
        id: AddressId,
    ) -> Result<address::AddressObj> {
        let id = ID(id.0);
        lookup!(ctx, id, Address, "Address").map(address::AddressObj)
    }

    #[graphql(name = "loadEnvVariableFromID")]
    async fn load_env_variable_from_id(
        &self,
        ctx: &Context<'_>,
        id: EnvVariableId,
    ) -> Result<EnvVariableObj> {
        match state(ctx).ids.get(&ID(id.0.clone()))? {
            Value::EnvVariable(name, value) => Ok(EnvVariableObj { name, value }),
            other => Err(crate::Error::WrongIdType {
                id: id.0,
                expected: "EnvVariable",
                actual: other.type_name(),
            }
            .into()),
        }
    }

    /// An empty module definition, for registration to fill.
    async fn module(&self, ctx: &Context<'_>) -> module::ModuleObj {
        module::query::module(ctx)
    }

    /// A type definition to build on (`withKind`, `withObject`, …).
    async fn type_def(&self) -> module::TypeDefObj {
        module::query::type_def()
    }

    /// A function definition to build on (`withArg`, …).
    async fn function(
        &self,
        ctx: &Context<'_>,
        name: String,
        return_type: ID,
    ) -> Result<module::FunctionObj> {
        module::query::function(ctx, name, return_type)
    }

    async fn source_map(
        &self,
        ctx: &Context<'_>,
        filename: String,
        line: i32,
        column: i32,
    ) -> module::SourceMapObj {
        module::query::source_map(ctx, filename, line, column)
    }

    /// The module a function runs in (nested clients only).
    async fn current_module(&self, ctx: &Context<'_>) -> Result<module::CurrentModuleObj> {
        module::query::current_module(ctx)
    }

    /// The call a function was started for (nested clients only).
    async fn current_function_call(&self, ctx: &Context<'_>) -> Result<module::FunctionCallObj> {
        module::query::current_function_call(ctx)
    }

    /// An error for `FunctionCall.returnError`.
    async fn error(&self, message: String) -> module::ErrorObj {
        module::query::error(message)
    }
}

/// Every object with an ID; `node(id:)` answers with the concrete type, so
/// `... on Container { stdout }` fragments work.
#[derive(Interface)]
#[graphql(name = "Node", field(name = "id", ty = "ID"))]
pub(crate) enum Node {
    // Boxed: a container is one engine value per part of its type.
    Container(Box<ContainerObj>),
    Directory(DirectoryObj),
    Changeset(changeset::ChangesetObj),
    DiffStat(changeset::DiffStatObj),
    File(FileObj),
    Secret(SecretObj),
    CacheVolume(CacheVolumeObj),
    EnvVariable(EnvVariableObj),
    Stat(stat::StatObj),
    SearchResult(search::SearchResultObj),
    SearchSubmatch(search::SearchSubmatchObj),
    JsonValue(json_value::JsonValueObj),
    EnvFile(env_file::EnvFileObj),
    Socket(SocketObj),
    Service(service::ServiceObj),
    Address(address::AddressObj),
    Label(container_info::LabelObj),
    Port(container_info::PortObj),
    HealthcheckConfig(container_info::HealthcheckConfigObj),
    Query(Query),
    Host(HostObj),
    Engine(EngineObj),
    EngineCache(EngineCacheObj),
    EngineCacheEntrySet(engine_cache::EngineCacheEntrySetObj),
    EngineCacheEntry(EngineCacheEntryObj),
    Module(module::ModuleObj),
    TypeDef(module::TypeDefObj),
    Function(module::FunctionObj),
    FunctionArg(module::FunctionArgObj),
    FunctionCall(module::FunctionCallObj),
    FunctionCallArgValue(module::FunctionCallArgValueObj),
    CurrentModule(module::CurrentModuleObj),
    Error(module::ErrorObj),
    ErrorValue(module::ErrorValueObj),
    SourceMap(module::SourceMapObj),
    ObjectTypeDef(module::ObjectTypeDefObj),
    FieldTypeDef(module::FieldTypeDefObj),
    ListTypeDef(module::ListTypeDefObj),
    EnumTypeDef(module::EnumTypeDefObj),
    EnumValueTypeDef(module::EnumValueTypeDefObj),
    InterfaceTypeDef(module::InterfaceTypeDefObj),
    ScalarTypeDef(module::ScalarTypeDefObj),
    InputTypeDef(module::InputTypeDefObj),
}

/// Which exit codes count as success.
#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(name = "ReturnType")]
pub(crate) enum ReturnType {
    #[default]
    Success,
    Failure,
    Any,
}

impl From<ReturnType> for engine::Expect {
    fn from(value: ReturnType) -> Self {
        match value {
            ReturnType::Success => engine::Expect::Success,
            ReturnType::Failure => engine::Expect::Failure,
            ReturnType::Any => engine::Expect::Any,
        }
    }
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(name = "CacheSharingMode")]
pub(crate) enum CacheSharingMode {
    #[default]
    Shared,
    Private,
    Locked,
}

impl From<CacheSharingMode> for engine::Sharing {
    fn from(value: CacheSharingMode) -> Self {
        match value {
            CacheSharingMode::Shared => engine::Sharing::Shared,
            CacheSharingMode::Private => engine::Sharing::Private,
            CacheSharingMode::Locked => engine::Sharing::Locked,
        }
    }
}

/// Layer compression of a built image. Dagger spells each value two ways.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ImageLayerCompression")]
pub(crate) enum ImageLayerCompression {
    #[graphql(name = "Gzip")]
    Gzip,
    #[graphql(name = "Zstd")]
    Zstd,
    #[graphql(name = "EStarGZ")]
    EStarGz,
    #[graphql(name = "Uncompressed")]
    Uncompressed,
    #[graphql(name = "GZIP")]
    GzipUpper,
    #[graphql(name = "ZSTD")]
    ZstdUpper,
    #[graphql(name = "ESTARGZ")]
    EStarGzUpper,
    #[graphql(name = "UNCOMPRESSED")]
    UncompressedUpper,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(name = "ImageMediaTypes")]
pub(crate) enum ImageMediaTypes {
    #[default]
    #[graphql(name = "OCIMediaTypes")]
    OciMediaTypes,
    #[graphql(name = "DockerMediaTypes")]
    DockerMediaTypes,
    #[graphql(name = "OCI")]
    Oci,
    #[graphql(name = "DOCKER")]
    Docker,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq, Default)]
#[graphql(name = "NetworkProtocol")]
pub(crate) enum NetworkProtocol {
    #[default]
    Tcp,
    Udp,
}

impl NetworkProtocol {
    pub(crate) fn name(self) -> &'static str {
        match self {
            NetworkProtocol::Tcp => "tcp",
            NetworkProtocol::Udp => "udp",
        }
    }
}

/// The engine's image options from Dagger's arguments.
pub(crate) fn image_options(
    field: &str,
    forced_compression: Option<ImageLayerCompression>,
    media_types: ImageMediaTypes,
) -> Result<engine::ImageOptions> {
    use engine::Compression;
    let forced_compression = match forced_compression {
        None => None,
        Some(ImageLayerCompression::Gzip | ImageLayerCompression::GzipUpper) => {
            Some(Compression::Gzip)
        }
        Some(ImageLayerCompression::Zstd | ImageLayerCompression::ZstdUpper) => {
            Some(Compression::Zstd)
        }
        Some(ImageLayerCompression::Uncompressed | ImageLayerCompression::UncompressedUpper) => {
            Some(Compression::None)
        }
        Some(ImageLayerCompression::EStarGz | ImageLayerCompression::EStarGzUpper) => {
            return Err(async_graphql::Error::new(format!(
                "{field}: tanto does not support EStarGZ layers yet; use Gzip, Zstd or Uncompressed"
            )))
        }
    };
    let media_types = match media_types {
        ImageMediaTypes::OciMediaTypes | ImageMediaTypes::Oci => engine::MediaTypes::Oci,
        ImageMediaTypes::DockerMediaTypes | ImageMediaTypes::Docker => engine::MediaTypes::Docker,
    };
    Ok(engine::ImageOptions {
        forced_compression,
        media_types,
    })
}

/// Include/exclude patterns as the engine takes them.
pub(crate) fn strs(values: &[String]) -> Vec<&str> {
    values.iter().map(String::as_str).collect()
}

/// The engine's error, as the SDKs expect it.
pub(crate) fn fail(error: engine::Error) -> async_graphql::Error {
    crate::response::graphql(error)
}
