from __future__ import annotations

import gc

from clara_runner.server.app import create_app
from clara_runner.settings import Settings


async def test_the_start_up_heap_is_frozen_while_serving_and_released_at_shutdown(settings: Settings) -> None:
    gc.unfreeze()
    application = create_app(settings)

    async with application.router.lifespan_context(application):
        assert gc.get_freeze_count() > 0

    assert gc.get_freeze_count() == 0
