//! The target: an S3 bucket (`s3://bucket/prefix`, configured by the standard AWS
//! environment variables) or a local directory (`file:///path` or a bare path). Every byte
//! goes through `object_store`, which does multipart uploads and retries.

use std::sync::Arc;

use object_store::aws::AmazonS3Builder;
use object_store::local::LocalFileSystem;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt};

use crate::error::{Error, Result};
use crate::sink::settings::{Encryption, S3Settings};

#[derive(Clone)]
pub struct Target {
    pub store: Arc<dyn ObjectStore>,
    /// The DMS `BucketFolder`: every key starts with it (may be empty).
    pub prefix: String,
    pub display: String,
}

impl Target {
    /// Opens `url`; the DMS `BucketFolder` goes below the URL's own prefix, and S3 objects are
    /// written with the `EncryptionMode` asked for.
    pub fn open(url: &str, settings: &S3Settings) -> Result<Self> {
        let mut target = Self::open_url(url, &settings.encryption)?;
        if !settings.bucket_folder.is_empty() {
            target.prefix = [target.prefix.as_str(), settings.bucket_folder.as_str()]
                .iter()
                .filter(|p| !p.is_empty())
                .copied()
                .collect::<Vec<_>>()
                .join("/");
        }
        Ok(target)
    }

    fn open_url(url: &str, encryption: &Encryption) -> Result<Self> {
        if let Some(rest) = url.strip_prefix("s3://") {
            let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
            if bucket.is_empty() {
                return Err(Error::Config(format!("target {url:?} names no bucket (s3://bucket/prefix)")));
            }
            // from_env reads AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN,
            // AWS_REGION, AWS_ENDPOINT_URL and AWS_ALLOW_HTTP (plain http only when asked).
            let endpoint = std::env::var("AWS_ENDPOINT_URL").or_else(|_| std::env::var("AWS_ENDPOINT")).unwrap_or_default();
            let allow_http = std::env::var("AWS_ALLOW_HTTP").is_ok_and(|v| v.eq_ignore_ascii_case("true"));
            if endpoint.starts_with("http://") && !allow_http {
                return Err(Error::Config(format!(
                    "the S3 endpoint {endpoint} is plain http; set AWS_ALLOW_HTTP=true to allow unencrypted traffic"
                )));
            }
            // AWS_REGION/AWS_DEFAULT_REGION default to us-east-1.
            let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
            if let Encryption::SseKms { key_id } = encryption {
                builder = builder.with_sse_kms_encryption(key_id);
            }
            let store = builder.build().map_err(|e| Error::Config(format!("target {url}: {e}")))?;
            Ok(Self { store: Arc::new(store), prefix: prefix.trim_matches('/').to_string(), display: url.to_string() })
        } else {
            if matches!(encryption, Encryption::SseKms { .. }) {
                return Err(Error::Config(format!("EncryptionMode=SSE_KMS needs an s3:// target, not {url}")));
            }
            let dir = url.strip_prefix("file://").unwrap_or(url);
            if dir.contains("://") {
                return Err(Error::Config(format!("target {url:?}: use s3://bucket/prefix, file:///path or a directory")));
            }
            std::fs::create_dir_all(dir).map_err(|e| Error::Config(format!("target directory {dir}: {e}")))?;
            let store = LocalFileSystem::new_with_prefix(dir)
                .map_err(|e| Error::Config(format!("target directory {dir}: {e}")))?
                .with_automatic_cleanup(true);
            Ok(Self { store: Arc::new(store), prefix: String::new(), display: dir.to_string() })
        }
    }

    /// The key of `relative` under the bucket folder.
    pub fn path(&self, relative: &str) -> Path {
        if self.prefix.is_empty() { Path::from(relative) } else { Path::from(format!("{}/{relative}", self.prefix)) }
    }

    /// Fails early and clearly when the bucket is missing or the credentials are wrong.
    pub async fn probe(&self) -> Result<()> {
        use futures::TryStreamExt;
        let prefix = self.path("_binlake");
        let mut listing = self.store.list(Some(&prefix));
        listing.try_next().await.map(|_| ()).map_err(|e| {
            Error::target(format!("cannot list {} (does the bucket exist, and may these credentials read and write it?)", self.display), e)
        })
    }

    pub async fn delete_if_exists(&self, key: &str) -> Result<()> {
        match self.store.delete(&Path::from(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(e) => Err(Error::target(format!("deleting {key}"), e)),
        }
    }
}
