#pragma once
// The identity of an artifact store (SPEC §8): the JSON encoding of a store
// spec as the Go project marshals it (field order driver, filesystem
// {volumeClaimName}, s3{bucket, prefix, region, endpoint, forcePathStyle,
// credentialsSecretName, uploadPartSize, uploadConcurrency}; empty fields and
// empty blocks left out; Go's string escaping), and the first 16 hex digits
// of its sha256. The controller names the maintainer Deployment after the
// hash; the maintainer compares it with the hash of each Run's
// status.artifactStore snapshot.
//
// Affinity: none (pure functions).

#include <optional>
#include <string>
#include <string_view>

#include "lib/api/types.hpp"

namespace krt::api {

// The canonical JSON text of `s`.
std::string store_spec_json(const artifact_store_spec& s);
// First 16 hex digits of sha256(store_spec_json(s)).
std::string store_hash(const artifact_store_spec& s);
// A status.artifactStore snapshot (raw JSON) as a spec; nullopt when the text
// is not a JSON object. An empty object or null yields a spec with an empty
// driver.
std::optional<artifact_store_spec> parse_store_snapshot(std::string_view json_text);
// True for an absent snapshot, "null" or "{}".
bool store_snapshot_empty(const std::optional<std::string>& snapshot);

}  // namespace krt::api
