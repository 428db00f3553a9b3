"""Card key rotation (R27): re-encrypts every stored card under the current key.

    MEDINS_CARD_KEYS="old:<base64>,new:<base64>" MEDINS_CARD_KEY_ID=new python -m ops.card_keys reencrypt

Make the new key current (with the old one still configured) in every process first; new agreements
are then written under it. This re-encrypts the older rows; afterwards the old key can be removed.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from services.collection.card_vault import CardKeyError, CardVault
from services.collection.handlers.agreements import reencrypt_cards
from services.collection.unit_of_work import CollectionUnitOfWork
from services.common.clock import clock_from_file
from services.common.db import create_pool
from services.common.logs import configure_logging
from services.common.settings import Settings


async def reencrypt(settings: Settings, batch_size: int) -> int:
    vault = CardVault.from_settings(settings.card_keys, settings.card_key_id)
    pool = await create_pool(settings.tax_dsn, min_size=1, max_size=2, attempts=3)
    try:
        return await reencrypt_cards(
            lambda: CollectionUnitOfWork(pool), vault, clock_from_file(settings.clock_file), batch_size
        )
    finally:
        await pool.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("command", choices=("reencrypt",))
    parser.add_argument("--batch-size", type=int, default=500)
    args = parser.parse_args()
    settings = Settings()
    configure_logging("card-keys", settings.log_level)
    try:
        count = asyncio.run(reencrypt(settings, args.batch_size))
    except CardKeyError as error:
        sys.stderr.write(f"{error}\n")
        sys.exit(1)
    sys.stderr.write(f"{count} cards re-encrypted under key {settings.card_key_id}\n")


if __name__ == "__main__":
    main()
