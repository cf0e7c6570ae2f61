"""Request and response bodies of every route, with TEI's and OpenAI's field names and defaults (pydantic models:
they validate requests and write the published OpenAPI schema)."""
from typing import Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, StrictStr

# TEI's `inputs`: one text, a batch of texts, one sequence of token ids, or a batch of them.
Inputs = Union[StrictStr, list[StrictStr], list[StrictInt], list[list[StrictInt]]]
TextInputs = Union[StrictStr, list[StrictStr]]
Direction = Literal["Right", "Left", "right", "left"]


class Request(BaseModel):
    # Unknown fields are ignored, as TEI's serde structs ignore them (clients send e.g. "model" everywhere).
    model_config = ConfigDict(extra="ignore")


class EmbedRequest(Request):
    inputs: Inputs = Field(examples=["What is Deep Learning?"])
    truncate: StrictBool | None = Field(None, description="truncate inputs over the maximum length "
                                        "(default: the server's --auto-truncate)")
    truncation_direction: Direction = "Right"
    prompt_name: StrictStr | None = Field(None, description="a prompt of config_sentence_transformers.json, put "
                                          "before every input")
    normalize: StrictBool = True
    dimensions: StrictInt | None = Field(None, ge=1, description="keep the first `dimensions` values (Matryoshka)")


class EmbedAllRequest(Request):
    inputs: Inputs
    truncate: StrictBool | None = None
    truncation_direction: Direction = "Right"
    prompt_name: StrictStr | None = None


class EmbedSparseRequest(EmbedAllRequest):
    pass


class SparseValue(BaseModel):
    index: int
    value: float


# /predict's `inputs`: a text, a pair [a, b], or a batch of [a] and [a, b] items.
PredictInputs = Union[StrictStr, list[StrictStr], list[list[StrictStr]]]


class PredictRequest(Request):
    inputs: PredictInputs = Field(examples=["I like you."])
    truncate: StrictBool | None = None
    truncation_direction: Direction = "Right"
    raw_scores: StrictBool = False


class Prediction(BaseModel):
    score: float
    label: str


class RerankRequest(Request):
    query: StrictStr = Field(examples=["What is Deep Learning?"])
    texts: list[StrictStr] = Field(examples=[["Deep Learning is ..."]])
    truncate: StrictBool | None = None
    truncation_direction: Direction = "Right"
    raw_scores: StrictBool = False
    return_text: StrictBool = False


class Rank(BaseModel):
    index: int
    score: float
    text: str | None = None


class TokenizeRequest(Request):
    inputs: TextInputs
    add_special_tokens: StrictBool = True
    prompt_name: StrictStr | None = None


class SimpleToken(BaseModel):
    id: int
    text: str
    special: bool
    start: int | None  # character offsets in the input; None for special tokens
    stop: int | None


class DecodeRequest(Request):
    ids: Union[list[StrictInt], list[list[StrictInt]]] = Field(examples=[[101, 7592, 102]])
    skip_special_tokens: StrictBool = True


class FillMaskRequest(Request):
    inputs: TextInputs = Field(examples=["Paris is the [MASK] of France."])
    top_k: StrictInt = Field(5, ge=1, le=1000)
    truncate: StrictBool | None = None


class FillMaskPrediction(BaseModel):
    score: float
    token: int
    token_str: str
    sequence: str


class TagRequest(Request):
    inputs: TextInputs = Field(examples=["My name is Wolfgang and I live in Berlin."])
    truncate: StrictBool | None = None
    aggregation_strategy: Literal["simple"] = "simple"


class Entity(BaseModel):
    entity_group: str
    score: float
    word: str
    start: int
    end: int


class OpenAIRequest(Request):
    input: Inputs = Field(examples=["What is Deep Learning?"])
    model: StrictStr | None = None
    user: StrictStr | None = None
    encoding_format: Literal["float", "base64"] = "float"
    dimensions: StrictInt | None = Field(None, ge=1)


class OpenAIEmbedding(BaseModel):
    object: Literal["embedding"] = "embedding"
    embedding: Union[list[float], str]
    index: int


class OpenAIUsage(BaseModel):
    prompt_tokens: int
    total_tokens: int


class OpenAIResponse(BaseModel):
    object: Literal["list"] = "list"
    data: list[OpenAIEmbedding]
    model: str
    usage: OpenAIUsage


class ErrorResponse(BaseModel):
    error: str
    error_type: str


class OpenAIErrorResponse(BaseModel):
    message: str
    code: int
    type: str


class Info(BaseModel):
    model_id: str
    model_sha: str | None
    model_dtype: str
    model_type: dict
    max_concurrent_requests: int
    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: int | None
    max_client_batch_size: int
    auto_truncate: bool
    tokenization_workers: int
    version: str
    routes: list[str]  # fastenc's addition: the POST routes this model serves
