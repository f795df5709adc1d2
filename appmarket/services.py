"""The service graph: what ``create_app`` builds once and hands to every request.

Kept free of Litestar so the CLI and benchmarks can build the same graph without a web server.
"""

from __future__ import annotations

from dataclasses import dataclass

from appmarket.addons.controller import Controller
from appmarket.addons.service import AddonService
from appmarket.addons.store import AddonStore
from appmarket.addons.targets import TargetRunner
from appmarket.auth.accounts import AccountService
from appmarket.auth.service import AuthService
from appmarket.catalog.service import CatalogService
from appmarket.db import migrate
from appmarket.db.engine import Database, make_engine, make_unpooled_engine
from appmarket.installer.cluster_registry import ClusterRegistry
from appmarket.installer.executor import Executor
from appmarket.installer.helm import Helm
from appmarket.installer.operations import OperationStore
from appmarket.installer.releases import ReleaseService
from appmarket.installer.secretbox import SecretBox, load_or_create_key
from appmarket.installer.sources import ChartResolver
from appmarket.installer.workers import WorkerPool
from appmarket.projects.service import ProjectService
from appmarket.repo.charts import ChartService
from appmarket.repo.index_cache import IndexCache
from appmarket.repo.oci.registry import Registry, build_registry
from appmarket.settings import S3Storage, Settings
from appmarket.storage.base import BlobStore
from appmarket.storage.factory import open_store


@dataclass
class Services:
    settings: Settings
    db: Database
    store: BlobStore
    auth: AuthService
    accounts: AccountService
    projects: ProjectService
    index: IndexCache
    charts: ChartService
    clusters: ClusterRegistry
    catalog: CatalogService
    registry: Registry
    releases: ReleaseService
    workers: WorkerPool
    addons: AddonService

    def close(self) -> None:
        self.addons.controller.close()
        self.store.close()
        self.db.dispose()


def prepare_database(settings: Settings) -> None:
    """Create the data directory and bring the schema up to date."""
    settings.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_unpooled_engine(settings.effective_database_url)
    try:
        migrate.upgrade(engine)
    finally:
        engine.dispose()


def build_services(settings: Settings) -> Services:
    settings.data_path.mkdir(parents=True, exist_ok=True)
    db = Database(make_engine(settings.effective_database_url))
    store = open_store(settings)
    auth = AuthService(db)
    index = IndexCache(db, settings.index_revalidate_seconds)
    presign = isinstance(settings.storage, S3Storage) and settings.storage.presign_downloads
    expiry = settings.storage.presign_expiry if isinstance(settings.storage, S3Storage) else 300
    charts = ChartService(db, store, auth, index, settings.chart_limits, presign=presign, presign_expiry=expiry)
    clusters = ClusterRegistry(db, auth, SecretBox(load_or_create_key(settings.data_path, settings.secret_key)))
    releases, workers = _installer(settings, db, store, auth, charts, clusters)
    addon_store = AddonStore(db)
    runner = TargetRunner(addon_store, releases, clusters, settings.addons.operation_timeout)
    controller = Controller(addon_store, runner, settings.addons)
    return Services(
        settings=settings, db=db, store=store, auth=auth, accounts=AccountService(db, auth),
        projects=ProjectService(db, auth), index=index, charts=charts,
        catalog=CatalogService(db, charts, settings.public_url),
        registry=build_registry(settings, db, store, auth, charts),
        clusters=clusters, releases=releases, workers=workers,
        addons=AddonService(addon_store, auth, releases.charts, controller),
    )


def _installer(settings: Settings, db: Database, store: BlobStore, auth: AuthService, charts: ChartService,
               clusters: ClusterRegistry) -> tuple[ReleaseService, WorkerPool]:
    """The installer's graph; its worker threads start in the app lifespan, not here."""
    inst = settings.installer
    home = settings.data_path.resolve() / "helm"
    helm = Helm(home, inst.helm, inst.operation_timeout, read_timeout=inst.read_timeout,
                write_margin=inst.write_margin)
    resolver = ChartResolver(db, store, charts, home / "charts", inst.plain_http_registries, settings.chart_limits)
    operations = OperationStore(db)
    executor = Executor(operations, clusters, helm, resolver, inst.heartbeat_interval, inst.operation_timeout)
    workers = WorkerPool(operations, executor, clusters, inst)
    return ReleaseService(operations, clusters, auth, helm, resolver, notify=workers.notify), workers


def bootstrap(settings: Settings) -> str | None:
    """Migrate (if enabled) and create the first admin; return its token when it was just created."""
    if settings.auto_migrate:
        prepare_database(settings)
    services = build_services(settings)
    try:
        return services.auth.ensure_admin(settings.admin_username)
    finally:
        services.close()
