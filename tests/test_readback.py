"""Reading digests back: drifted real-world headings, keyword and score shapes, every page layout we meet."""

from __future__ import annotations

import pytest
from test_dataset import DAY, FIELDS, PAPER

from summarizer import SummarizerError
from summarizer.dataset import canonical
from summarizer.readback import detect_style, parse_markdown, scores
from summarizer.styles import STYLES
from summarizer.text import keyword

ZH_DIGEST_DRIFT = """# 【2024-03-05】Huggingface 每日论文速览

- [Huggingface Daily Papers 2024-03-05](https://huggingface.co/papers?date=2024-03-05) 共推荐 3 篇论文。

## Lumen: Sparse Attention for Long Documents

### 论文总结

1. **本文的主要工作：**

本文提出了Lumen，一种面向长文档的稀疏注意力内核。

2. **本文工作的主要亮点：**

- 跳过90%的键块

- 在2个基准上速度提升3倍

3. **核心关键词：**

- `Sparse Attention` (`稀疏注意力`)

- Long Documents（长文档）

- `Attention Kernel`（注意力内核）

- Key Blocks (键块)

- `Efficiency` (`效率`)

4. **打分：**

- 实用性: 4/5

- 创新性: 4.5分

- 推荐度: 3/5

这项工作的实用性较强。它的创新性体现在稀疏化设计上。总体推荐度中等。

[到 Huggingface 论文主页查看详情](https://huggingface.co/papers/2403.01234)

## Second Paper

**1. 介绍本文的主要工作**

本文研究了小模型的蒸馏方法，提升了推理速度。

**2. 文章工作亮点**

本文方法简单易用。它在多个任务上表现稳定。

**3. 核心关键词**

- Distillation (蒸馏)
- Small Models (小模型)
- Inference Speed (推理速度)
- Teacher Model (教师模型)
- Student Model (学生模型)

**4. 速评（满分5分）：**

- **实用性：** 4.5/5。方法可直接部署。
- **创新性：** 3/5。思路较为常见。
- **推荐度：** 4/5。值得一读。

[到 Huggingface 论文主页查看详情](https://huggingface.co/papers/2403.05678v2)

## Third Paper

#### 1. 文章主要工作

本文提出了新的数据集。

#### 2. 本文工作的主要亮点

数据规模大。

#### 3. 核心关键词

- Dataset (数据集)

#### 4. 从实用性、创新性和推荐度进行打分

- 实用性：4分
  - 数据集可直接使用。
- 创新性：3分
  - 构建方法常规。
- 推荐度：4分
  - 推荐阅读。

[到 Huggingface 论文主页查看详情](https://huggingface.co/papers/2403.07777)
"""


def test_drifted_zh_digest_headings_keywords_and_scores():
    first, second, third = parse_markdown(ZH_DIGEST_DRIFT, source="d.md", name="d.md")
    assert detect_style(ZH_DIGEST_DRIFT) == "zh-digest" and first.date == DAY
    assert (first.id, second.id, third.id) == ("2403.01234", "2403.05678", "2403.07777")
    assert canonical(STYLES["zh-digest"], first.fields) == {
        **FIELDS["zh-digest"],  # the same work, highlights and keywords, in drifted headings and shapes
        # one shared reason paragraph: each sentence goes to the score it names; 4.5 is rounded half up
        "scores": {"practicality": {"score": 4, "reason": "这项工作的实用性较强。"},
                   "novelty": {"score": 5, "reason": "它的创新性体现在稀疏化设计上。"},
                   "recommendation": {"score": 3, "reason": "总体推荐度中等。"}},
    }
    assert first.notes == ("创新性 4.5 rounded to 5",)
    assert second.fields["highlights"] == ["本文方法简单易用。", "它在多个任务上表现稳定。"]
    assert second.fields["scores"]["practicality"] == {"score": 5, "reason": "方法可直接部署。"}
    assert second.fields["scores"]["novelty"] == {"score": 3, "reason": "思路较为常见。"}
    assert third.fields["work"] == "本文提出了新的数据集。"
    assert third.fields["scores"]["novelty"] == {"score": 3, "reason": "构建方法常规。"}


@pytest.mark.parametrize("line, expected", [
    ("- 实用性：4分", (4, "")), ("- 实用性: 4/5", (4, "")), ("- 实用性：4.5分。很好用。", (5, "很好用。")),
    ("实用性：4/5 - 训练稳定。", (4, "训练稳定。")), ("- **实用性：** 4.5/5。可部署。", (5, "可部署。")),
    ("- 实用性打分：5分", (5, "")), ("- 实用性： 3.5/5分", (4, "")),
])
def test_score_shapes(line, expected):
    got, _ = scores([line])
    assert (got["practicality"]["score"], got["practicality"]["reason"]) == expected


@pytest.mark.parametrize("raw, expected", [
    ("- `Large Language Models (LLMs)` (`大型语言模型`)", "Large Language Models (LLMs) (大型语言模型)"),
    ("- Scene Dynamics (`场景动态`)", "Scene Dynamics (场景动态)"), ("`Video Matting`（视频分割）", "Video Matting (视频分割)"),
    ("- Plain", "Plain"),
])
def test_keyword_shapes(raw, expected):
    assert keyword(raw) == expected


ZH_DETAILS_REAL = """#### Lumen: Sparse Attention for Long
  Documents
![Date](https://img.shields.io/badge/Date-2024--03--05-blue) ![Upvotes](https://img.shields.io/badge/upvotes-12-green)

<details>
<summary style="font-weight: bold; cursor: pointer;">展开论文总结</summary>

#### 背景
- **背景**
    长文档的注意力计算代价很高。

- **已有的工作**
    已有方法在速度与精度之间取舍。

#### 核心贡献
- **提出了稀疏注意力内核Lumen**
    - **挑战1：计算量大**
        跳过大部分键块。

#### 实现与部署
在2个基准上测试，速度提升3倍。

#### 总结
Lumen在保持精度的同时加快了推理。
</details>

<hr style="border:0.5px solid #CCCCCC; margin-top: 20px; margin-bottom: 20px;"/>
"""

ZH_NOTES_REAL = """
# Lumen: Sparse Attention for Long Documents
[arxiv_pdf_url](https://arxiv.org/pdf/2403.01234)
### **论文标题**
- 论文标题：Lumen：面向长文档的稀疏注意力

### **作者信息**
- **作者**: Ada Ray, Bo Chen
- **机构**: 某大学

### **论文标签**
- 主题分类/关键词：稀疏注意力、长文档

### **研究核心目标与问题**
- 降低长文档注意力的计算量。

### **采用方法与技术**
- 跳过90%的键块

### **实验设计与主要发现**
- 速度提升3倍

### **结论及对未来研究的意义**
- 稀疏注意力是加速长文档推理的有效途径。

### **关键图表与数据**
- 表1给出了速度对比。
"""

KO_BULLETS_REAL = """# Daily Papers

## Daily Papers (2024-03-05)

### [Lumen: Sparse Attention for Long Documents](https://arxiv.org/abs/2403.01234)
![](https://example.org/t.png)
Authors: Ada Ray, Bo Chen

- Lumen은 긴 문서를 위한 희소 어텐션 커널입니다.
- 키 블록의 90%를 건너뜁니다.
- 두 벤치마크에서 정확도를 유지하며 더 빠르게 동작합니다.

## License

CC BY-NC 4.0
"""


@pytest.mark.parametrize("text, style", [(ZH_DETAILS_REAL, "zh-details"), (ZH_NOTES_REAL, "zh-notes"),
                                         (KO_BULLETS_REAL, "ko-bullets")])
def test_real_world_shapes(text, style):
    (entry,) = parse_markdown(text, source="real.md")
    assert entry.style == style and entry.title == PAPER.title
    assert entry.id == (None if style == "zh-details" else PAPER.id)  # these pages link no paper page
    assert canonical(STYLES[style], entry.fields) == FIELDS[style]


def test_a_tldr_page_without_our_paper_comments_reads_back():
    """A zh-tldr page edited by hand (the `<!-- paper: -->` comments gone, headings written as "### 动机")."""
    fields = FIELDS["zh-tldr"]
    page = (f"# 【{DAY}】Huggingface 每日论文 TLDR\n\n## [{PAPER.title}](https://arxiv.org/abs/{PAPER.id}v2)\n\n"
            "**作者**: Ada Ray, Bo Chen\n\n"
            + "\n\n".join(f"### {h}\n{fields[k]}" for k, h in
                          (("tldr", "TLDR"), ("motivation", "动机"), ("method", "方法"), ("result", "结果"),
                           ("conclusion", "结论")))
            + "\n\n## [Second Paper](https://arxiv.org/abs/2403.05678)\n\n### TLDR\n本文研究小模型蒸馏。\n")
    assert detect_style(page) == "zh-tldr"
    first, second = parse_markdown(page, source="t.md")
    assert (first.id, first.title, first.date) == (PAPER.id, PAPER.title, DAY)
    assert canonical(STYLES["zh-tldr"], first.fields) == fields
    assert second.id == "2403.05678" and second.fields == {"tldr": "本文研究小模型蒸馏。"}


def test_unknown_page_is_a_clear_error():
    with pytest.raises(SummarizerError, match="pass --style"):
        parse_markdown("just some notes\n")
