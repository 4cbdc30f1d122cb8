"""A typed worker: its input and output types are its API contract.

seekapi checks every job's input against ``Quote`` before ``handler`` runs (a bad input
is refused with each problem's JSON Pointer, charging nothing), checks the result
against ``Price`` before pushing it, and publishes both as JSON Schema:
``seekapi schema typed_worker.py``.
"""

from __future__ import annotations

import dataclasses
import datetime
import enum
from decimal import Decimal
from typing import Annotated

import seekapi


class Speed(enum.Enum):
    STANDARD = "standard"
    EXPRESS = "express"


@dataclasses.dataclass
class Parcel:
    weight_kg: Annotated[float, seekapi.Field(gt=0, le=30, description="at most 30 kg")]
    fragile: bool = False


@dataclasses.dataclass
class Quote:
    """What a customer asks: parcels to ship, how fast, and to which postcode."""

    postcode: Annotated[str, seekapi.Field(pattern=r"^[0-9]{5}$", description="a French postcode")]
    parcels: Annotated[list[Parcel], seekapi.Field(min_length=1, max_length=20)]
    speed: Speed = Speed.STANDARD
    ship_on: datetime.date | None = None


@dataclasses.dataclass
class Price:
    total: Decimal
    currency: str
    parcels: int
    ships_on: datetime.date


RATES = {Speed.STANDARD: Decimal("1.20"), Speed.EXPRESS: Decimal("2.90")}


@seekapi.worker
def handler(quote: Quote) -> Price:
    """The worker: a typed value in (already checked and converted), a typed value out."""
    job = seekapi.current_job()
    total = Decimal("0")
    for index, parcel in enumerate(quote.parcels):
        extra = Decimal("3.00") if parcel.fragile else Decimal("0")
        total += RATES[quote.speed] * Decimal(str(parcel.weight_kg)) + extra
        job.charge(f"{job.job_uuid}:parcel-{index}")  # one unit per parcel priced
    ships_on = quote.ship_on or datetime.date(2026, 12, 1)
    return Price(total.quantize(Decimal("0.01")), "EUR", len(quote.parcels), ships_on)
