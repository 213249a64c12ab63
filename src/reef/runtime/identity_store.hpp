#pragma once
// Files that hold secrets: the node's identity key (DATA_DIR/node.key) and the cluster key.
// Both are written with mode 0600 through a temporary file, fsync and rename, so a crash never
// leaves a torn key; a file with looser permissions is refused with a message saying so.

#include <string>

#include "reef/base/result.hpp"
#include "reef/crypto/cluster_key.hpp"
#include "reef/crypto/identity.hpp"

namespace reef::runtime {

/// Load DATA_DIR/node.key, or create it from OS entropy on first start (creating DATA_DIR 0700).
result<crypto::identity> load_or_create_identity(const std::string& data_dir);
result<crypto::cluster_key> load_cluster_key(const std::string& path);
/// Fails with already_exists rather than overwrite an existing key.
result<crypto::cluster_key> create_cluster_key(const std::string& path);

} // namespace reef::runtime
