//! `Stat`, `FileType` and `ExistsType`: what Dagger says of one entry.

use async_graphql::{Context, Enum, Object, ID};

use super::state;
use crate::ids::Object as Value;

pub(crate) struct StatObj(pub engine::Stat);

#[Object(name = "Stat")]
impl StatObj {
    pub(crate) async fn id(&self, ctx: &Context<'_>) -> ID {
        ID(state(ctx).ids.register(Value::Stat(self.0.clone())))
    }

    async fn name(&self) -> &str {
        &self.0.name
    }

    async fn size(&self) -> i32 {
        // Dagger's Int is 32 bits; a larger file says the most it can.
        i32::try_from(self.0.size).unwrap_or(i32::MAX)
    }

    async fn file_type(&self) -> Option<FileType> {
        Some(match self.0.kind {
            engine::FileKind::File => FileType::Regular,
            engine::FileKind::Dir => FileType::Directory,
            engine::FileKind::Symlink => FileType::Symlink,
            engine::FileKind::Other => FileType::Unknown,
        })
    }

    async fn permissions(&self) -> i32 {
        self.0.permissions as i32
    }
}

/// Dagger spells three values two ways (`REGULAR_TYPE` is `REGULAR`); we
/// answer with the short ones, as Dagger does.
#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "FileType")]
pub(crate) enum FileType {
    #[graphql(name = "UNKNOWN")]
    Unknown,
    #[graphql(name = "REGULAR")]
    Regular,
    #[graphql(name = "DIRECTORY")]
    Directory,
    #[graphql(name = "SYMLINK")]
    Symlink,
    #[graphql(name = "REGULAR_TYPE")]
    RegularType,
    #[graphql(name = "DIRECTORY_TYPE")]
    DirectoryType,
    #[graphql(name = "SYMLINK_TYPE")]
    SymlinkType,
}

#[derive(Enum, Copy, Clone, Eq, PartialEq)]
#[graphql(name = "ExistsType")]
pub(crate) enum ExistsType {
    #[graphql(name = "REGULAR_TYPE")]
    Regular,
    #[graphql(name = "DIRECTORY_TYPE")]
    Directory,
    #[graphql(name = "SYMLINK_TYPE")]
    Symlink,
}

/// Whether `stat` (looked up without following the last symlink when
/// asked for one) is of `expected`.
pub(crate) fn is_of(stat: Option<&engine::Stat>, expected: Option<ExistsType>) -> bool {
    match (stat, expected) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(stat), Some(expected)) => {
            stat.kind
                == match expected {
                    ExistsType::Regular => engine::FileKind::File,
                    ExistsType::Directory => engine::FileKind::Dir,
                    ExistsType::Symlink => engine::FileKind::Symlink,
                }
        }
    }
}

/// Whether `exists` looks at a symlink itself: when told to, or when
/// asked whether it is one, like test(1)'s -h/-L.
pub(crate) fn no_follow(do_not_follow_symlinks: bool, expected: Option<ExistsType>) -> bool {
    do_not_follow_symlinks || expected == Some(ExistsType::Symlink)
}
