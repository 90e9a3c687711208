//! Object stores of a cluster node: local files, and any S3 bucket a plan
//! names, reached with the same settings as the rest of sendlens (the AWS
//! environment: `AWS_ENDPOINT_URL`, `AWS_ACCESS_KEY_ID`, ...).

use std::sync::Arc;

use datafusion::error::{DataFusionError, Result};
use datafusion::execution::object_store::{DefaultObjectStoreRegistry, ObjectStoreRegistry};
use datafusion::execution::runtime_env::{RuntimeEnv, RuntimeEnvBuilder};
use deltalake::ObjectStore;
use sendlens_store::objects::{Bucket, STORE_HINT, is_object_url};
use url::Url;

/// Local files, plus a store per bucket made when a plan first names it.
#[derive(Debug, Default)]
pub struct Stores {
    known: DefaultObjectStoreRegistry,
}

impl ObjectStoreRegistry for Stores {
    fn register_store(
        &self,
        url: &Url,
        store: Arc<dyn ObjectStore>,
    ) -> Option<Arc<dyn ObjectStore>> {
        self.known.register_store(url, store)
    }

    fn deregister_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        self.known.deregister_store(url)
    }

    fn get_store(&self, url: &Url) -> Result<Arc<dyn ObjectStore>> {
        if let Ok(store) = self.known.get_store(url) {
            return Ok(store);
        }
        if !is_object_url(url.as_str()) {
            return self.known.get_store(url);
        }
        let bucket = Bucket::open(url, &Default::default())
            .map_err(|e| DataFusionError::Execution(format!("{url}: {e}. {STORE_HINT}")))?;
        let store = bucket.store();
        // Two tasks may make the same bucket's store at once; either will do.
        self.known.register_store(url, Arc::clone(&store));
        Ok(store)
    }
}

/// A runtime whose object stores are [`Stores`], spilling to `spill_dir`
/// when given.
pub fn runtime(spill_dir: Option<&str>) -> Result<Arc<RuntimeEnv>> {
    let mut builder =
        RuntimeEnvBuilder::new().with_object_store_registry(Arc::new(Stores::default()));
    if let Some(dir) = spill_dir {
        builder = builder.with_temp_file_path(dir);
    }
    Ok(Arc::new(builder.build()?))
}
