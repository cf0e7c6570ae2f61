"""fastenc: fast, faithful inference for BERT-family encoders."""
from .config import ConfigError, EncoderConfig
from .engine import Engine
from .hub import ModelNotFoundError
from .loading.load import load
from .models.bert.model import EncoderModel
from .outputs import EncoderOutput
from .tokenizer import Tokenizer
from .loading.weights import WeightsError

__version__ = "0.1.0"
__all__ = ["load", "Engine", "Tokenizer", "EncoderModel", "EncoderConfig", "EncoderOutput", "ConfigError",
           "ModelNotFoundError", "WeightsError"]
