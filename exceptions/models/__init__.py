from exceptions.models.cases import CaseSource, CaseStatus, ExceptionCase
from exceptions.models.types import ExceptionType

__all__ = ["CaseSource", "CaseStatus", "ExceptionCase", "ExceptionType"]
