"""Flex-model and flex-context: parsing and validation shared by the gateway (at trigger time) and the scheduler
worker (again, before computing). Pure: no database, no Kafka. See docs/scheduling.md."""

from shared.flex.context import FlexContext
from shared.flex.process import ProcessFlexModel
from shared.flex.quantities import Fixed, Segment, SensorRef, Series, Variable
from shared.flex.storage import StorageFlexModel
from shared.flex.trigger import ScheduleRequest, SensorFacts, referenced_sensors, trigger_body, validate_trigger

__all__ = [
    "Fixed",
    "FlexContext",
    "ProcessFlexModel",
    "ScheduleRequest",
    "Segment",
    "SensorFacts",
    "SensorRef",
    "Series",
    "StorageFlexModel",
    "Variable",
    "referenced_sensors",
    "trigger_body",
    "validate_trigger",
]
